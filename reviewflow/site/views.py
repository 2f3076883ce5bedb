"""The public "About our medical review" page and the admins' site settings page."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from reviewflow import policy
from reviewflow.errors import InvalidInput, refusal_to
from reviewflow.extensions import db
from reviewflow.public.views import public_page
from reviewflow.site import services as site
from reviewflow.site.forms import SiteSettingsForm

bp = Blueprint("site", __name__)

@bp.get("/about/medical-review")
def medical_review():
    """The publisher's editorial policy (Markdown from the settings, else the default), public and cacheable."""
    return public_page("site/medical_review.html", settings=site.current())


@bp.route("/admin/site", methods=["GET", "POST"])
@login_required
def admin_settings():
    """Edit the logo, the editorial policy and the disclaimer (admins); each change is audited."""
    policy.require(current_user, "admin.manage")
    rows = site.stored()
    shown = site.settings_from(rows)  # the texts as readers see them now, defaults included, to edit
    form = SiteSettingsForm(data={key: getattr(shown, key) for key in site.LIMITS})
    with refusal_to(form, InvalidInput, field="logo_url") as refused:  # e.g. a logo at an http:// address
        if form.validate_on_submit():
            changed = site.save_settings(current_user._get_current_object(),
                                         {key: getattr(form, key).data for key in site.LIMITS})
            db.session.commit()
            flash(f"Saved {', '.join(site.LABELS[k] for k in changed)}. Readers see the change within seconds."
                  if changed else "Nothing changed.", "success" if changed else "info")
            return redirect(url_for("site.admin_settings"))
    return render_template("admin/site.html", form=form, rows=rows), refused.status
