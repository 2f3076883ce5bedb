"""Forms of the review pages: annotate, reply, sign a decision, assign a reviewer.

Forms check what a person typed; the services still decide what is allowed
(policy, state, licence, the quote being in the text).
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, StopValidation

from reviewflow.auth.forms import MultiCheckboxField
from reviewflow.extensions import utcnow
from reviewflow.reviews.services import COMMENT_MAX, QUOTE_MAX

REVISION = [DataRequired(message="The revision number is missing. Reload the page and try again."),
            Regexp(r"^\d{1,9}$", message="The revision number is not valid. Reload the page and try again.")]


class AnnotationForm(FlaskForm):
    """A comment anchored to a quote of the current revision. Field ids are what app.js fills in."""

    quote = StringField("Quoted text", validators=[
        DataRequired(message="Select the text you are commenting on, or type it exactly as it appears."),
        Length(max=QUOTE_MAX)],
        description="Select text in the article to fill this in, or type it exactly as it appears.")
    prefix = HiddenField(validators=[Optional(), Length(max=200)])
    suffix = HiddenField(validators=[Optional(), Length(max=200)])
    comment = TextAreaField("Comment", validators=[
        DataRequired(message="Write the comment the writer should act on."), Length(max=COMMENT_MAX)])
    blocking = BooleanField("Blocking", description="A blocking annotation must be resolved before approval.")
    revision = HiddenField(validators=REVISION)


class ReplyForm(FlaskForm):
    """One reply in an annotation's thread."""

    comment = TextAreaField("Reply", validators=[DataRequired(message="Write a reply before sending it."),
                                                 Length(max=COMMENT_MAX)])


class SignForm(FlaskForm):
    """The signing dialog. Set ``decision`` and ``checklist.choices`` before validating.

    What a signature needs (every checklist item for an approval, a comment for a request for
    changes, the right password) is the service's rule; the view shows its refusals beside the fields.
    """

    revision = HiddenField(validators=REVISION)
    checklist = MultiCheckboxField("Review checklist", choices=[], validate_choice=True)
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=COMMENT_MAX)])
    password = PasswordField("Password", validators=[Length(max=1024)])
    #: Asked only of someone with two-factor sign-in on (the view leaves it out of the page otherwise).
    code = StringField("Code from your authenticator app", validators=[Optional(), Length(max=32)])

    decision = "approve"

    @property
    def verb(self) -> str:
        return "Approval" if self.decision == "approve" else "A request for changes"

    def validate_password(self, field) -> None:
        if not field.data:
            raise StopValidation(f"{self.verb} needs your password. Nothing was signed.")


def _default_due():
    """The due date the page proposes: ``REVIEW_DUE_DAYS`` (7) days from today."""
    return utcnow().date() + timedelta(days=current_app.config["REVIEW_DUE_DAYS"])


def _reviewer_id(value):
    """The chosen reviewer's id; None for the empty "Choose a reviewer…" entry (ValueError for junk)."""
    return None if value in ("", None) else int(value)


class AssignForm(FlaskForm):
    """Choose a reviewer and a due date. Choices come from ``suggested_reviewers``, ranked; the best
    match is preselected only when their specialty matches the topic (``ranking.preselected``). The
    service refuses people who cannot serve, so a disabled entry sent anyway is still refused (409)."""

    reviewer = SelectField("Reviewer", coerce=_reviewer_id, validate_choice=False,
                           validators=[DataRequired(message="Choose a reviewer.")],
                           description="Ranked: specialty matches first, then the fewest open reviews, then the "
                                       "fastest past turnaround.")
    due_date = DateField("Due date", default=_default_due, validators=[Optional()],
                         description="Shown to the reviewer in their queue; they are reminded before it and "
                                     "when it has passed. One week from today by default.")
