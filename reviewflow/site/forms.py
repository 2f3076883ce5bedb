"""The admin's site settings form: logo, editorial policy and medical disclaimer."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length

from reviewflow.site.services import DISCLAIMER, LIMITS, LOGO_URL, POLICY


class SiteSettingsForm(FlaskForm):
    """Every field may be left empty: the logo is then left out, the texts go back to their defaults."""

    logo_url = StringField(
        "Logo address", validators=[Length(max=LIMITS[LOGO_URL])],
        description="An https:// address or a path on this site, such as /static/logo.svg. Shown beside the "
                    "site's name in the header of public pages. Leave empty for the name alone.")
    editorial_policy = TextAreaField(
        "About our medical review (Markdown)", validators=[Length(max=LIMITS[POLICY])], render_kw={"rows": 20},
        description="The editorial policy page every public page links to. Use ## for section headings. "
                    "Leave empty to restore the default text.")
    disclaimer = TextAreaField(
        "Medical disclaimer (Markdown)", validators=[Length(max=LIMITS[DISCLAIMER])], render_kw={"rows": 5},
        description="Shown at the foot of every public page. Leave empty to restore the default text.")
