"""Forms of the writer's pages: starting an article and saving a revision.

The limits match ``articles.services.clean_text``, so the form refuses what the service
would refuse, with the message next to the field; the service still checks everything.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from reviewflow.articles.services import BODY_MAX, NOTE_MAX, TITLE_MAX, TOPIC_MAX


class _TextForm(FlaskForm):
    """The text of a revision: title, Markdown body and change note."""

    title = StringField("Title", validators=[DataRequired(message="Give the article a title."),
                                             Length(max=TITLE_MAX)])
    body = TextAreaField(
        "Text", validators=[DataRequired(message="The text cannot be empty."), Length(max=BODY_MAX)],
        description="Markdown: ## for a section heading, **bold**, *italic*, - for a list, [text](https://…) "
                    "for a link.",
    )
    note = StringField("Change note", validators=[Optional(), Length(max=NOTE_MAX)],
                       description="What changed and why, for the reviewers and the version history.")


class ArticleForm(_TextForm):
    """A new article: its first revision plus a topic."""

    topic = StringField("Topic", validators=[Optional(), Length(max=TOPIC_MAX)],
                        description="The condition or area, e.g. Dermatology; used to suggest reviewers.")


class RevisionForm(_TextForm):
    """A new revision of an existing article, saved on top of ``base_revision``."""

    #: The revision number the writer started from; a newer current revision makes the save stale (409).
    base_revision = HiddenField()
