"""Forms of the editor's publishing pages: publish, unpublish and the re-review interval."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Regexp, ValidationError

from reviewflow.publishing.services import NOTE_MAX


class PublishForm(FlaskForm):
    """Publish exactly the revision the editor saw (hidden ``revision``), with a public change note.

    The note is required when a version is already live: readers see it in the version history.
    """

    revision = HiddenField(validators=[DataRequired(), Regexp(r"^[1-9][0-9]{0,8}$", message="Unknown revision.")])
    change_note = TextAreaField(
        "Change note shown to readers", validators=[Length(max=NOTE_MAX)],
        description="One sentence in the version history, e.g. “Updated to add a source on bathing”.")

    def __init__(self, *args, note_required: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.note_required = note_required
        if note_required:
            self.change_note.flags.required = True

    def validate_change_note(self, field) -> None:
        if self.note_required and not (field.data or "").strip():
            raise ValidationError("Describe what changed: readers see this note in the article's version history.")


class UnpublishForm(FlaskForm):
    """Take an article off the public site; the reason is shown to readers on the 410 page."""

    reason = TextAreaField(
        "Reason shown to readers", validators=[DataRequired(message="Give the reason for unpublishing."),
                                               Length(max=NOTE_MAX)],
        description="Readers who open the article's address see this short notice.")


class RereviewForm(FlaskForm):
    """How often a published article is medically re-reviewed, in months (1 to 60)."""

    months = IntegerField("Re-review every (months)",
                          validators=[DataRequired(message="Enter a number of months."),
                                      NumberRange(min=1, max=60, message="Choose between 1 and 60 months.")])
