"""The editor's publishing pages: confirm and publish an approved revision, unpublish with a reason,
the re-review interval, and the printable review certificate of a published version. What readers
see is in ``reviewflow.public``.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from reviewflow import policy
from reviewflow.articles import services as articles
from reviewflow.articles import workflow
from reviewflow.articles.models import Article
from reviewflow.articles.rendering import render_markdown
from reviewflow.auth.views import verifier_names
from reviewflow.extensions import db, utcnow
from reviewflow.publishing import certificates
from reviewflow.publishing import services as publishing
from reviewflow.publishing.forms import PublishForm, RereviewForm, UnpublishForm
from reviewflow.reviews import services as reviews

bp = Blueprint("publishing", __name__)


# Editor pages --------------------------------------------------------------------------------------

def _staff_context(article: Article) -> dict:
    """Links back to the staff pages: the article (articles.detail) and the article list."""
    return {"work_url": url_for("articles.detail", id=article.id), "articles_url": url_for("articles.index")}


def _suggested_note(note: str) -> str:
    note = (note or "").strip().rstrip(".")
    return f"Updated to {note[0].lower()}{note[1:]}." if note else ""


@bp.route("/work/articles/<int:article_id>/publish", methods=["GET", "POST"])
@login_required
def confirm(article_id: int):
    """Confirm and publish exactly the current, approved revision (editors who did not write it)."""
    user = current_user._get_current_object()
    article = articles.get_article(article_id)
    workflow.check(article, "publish", user, lock_row=False, revision=article.revision)
    live = publishing.live_version_of(article)
    form = PublishForm(note_required=live is not None)
    if form.validate_on_submit():
        version = publishing.publish_revision(user, article, int(form.revision.data), form.change_note.data)
        db.session.commit()
        flash(f"Published “{version.title}” as version {version.version}. Readers see it now at this address.",
              "success")
        return redirect(url_for("public.article", slug=article.slug))
    if not form.is_submitted():
        form.revision.data = str(article.revision.number)
        if live is not None:
            form.change_note.data = _suggested_note(article.revision.note)
    return _confirm_page(article, live, form), 400 if form.errors else 200


def _confirm_page(article, live, form: PublishForm) -> str:
    """The revision about to be published, with the approvals behind it and what it replaces."""
    rev = article.revision
    approvals = reviews.approvals_behind(article, rev.number)
    return render_template(
        "publishing/confirm.html", article=article, rev=rev, live=live, form=form, **_staff_context(article),
        approvals=approvals, verifiers=verifier_names([d.profile for d in approvals]),
        body_html=Markup(render_markdown(rev.body)),
    )


@bp.route("/work/articles/<int:article_id>/unpublish", methods=["GET", "POST"])
@login_required
def unpublish(article_id: int):
    """Confirm and take an article off the public site with a reason readers see (editors)."""
    user = current_user._get_current_object()
    article = articles.get_article(article_id)
    workflow.check(article, "unpublish", user, lock_row=False)
    live = publishing.live_version_of(article)
    form = UnpublishForm()
    if form.validate_on_submit():
        publishing.unpublish_article(user, article, form.reason.data)
        db.session.commit()
        flash(f"“{article.title}” is unpublished. Its address now tells readers why.", "success")
        return redirect(url_for("articles.detail", id=article.id))
    return render_template("publishing/unpublish.html", article=article, live=live, form=form,
                           **_staff_context(article)), 400 if form.errors else 200


@bp.post("/work/articles/<int:article_id>/rereview")
@login_required
def rereview_interval(article_id: int):
    """Set how many months pass between medical re-reviews of a published article (editors)."""
    user = current_user._get_current_object()
    article = articles.get_article(article_id)
    policy.authorize(user, "article.schedule_rereview", article)
    form = RereviewForm()
    if not form.validate_on_submit():
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        flash(f"The re-review interval was not changed: {errors[0] if errors else 'check the form.'}", "error")
        return redirect(url_for("articles.detail", id=article.id))
    publishing.set_rereview_interval(user, article, form.months.data)
    db.session.commit()
    due = f"; the next is due on {article.rereview_due:%B} {article.rereview_due.day}, {article.rereview_due.year}" \
        if article.rereview_due else ""
    flash(f"“{article.title}” is re-reviewed every {form.months.data} months{due}.", "success")
    return redirect(url_for("articles.detail", id=article.id))


@bp.get("/work/articles/<int:article_id>/versions/<int:n>/certificate")
@login_required
def certificate(article_id: int, n: int):
    """The printable review certificate of one published version (staff of the article)."""
    article = articles.get_article(article_id)
    policy.authorize(current_user, "article.view", article)
    cert = certificates.certificate(article, n)
    return render_template("publishing/certificate.html", cert=cert, article=article, **_staff_context(article),
                           verifiers=verifier_names([line.decision.profile for line in cert.lines]),
                           checklist=current_app.config.get("REVIEW_CHECKLIST", []), now=utcnow())
