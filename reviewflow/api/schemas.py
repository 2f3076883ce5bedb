"""Request bodies of the JSON API as pydantic models.

The same models validate requests and, through their JSON Schema, make the OpenAPI
document, so the two cannot drift apart. Strict types: a number is not a title.
"""
from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ArticleCreate(Body):
    title: StrictStr = Field(min_length=1, max_length=200)
    body: StrictStr = Field(min_length=1, max_length=200_000)
    topic: StrictStr | None = Field(default=None, max_length=120)


class RevisionCreate(Body):
    title: StrictStr = Field(min_length=1, max_length=200)
    body: StrictStr = Field(min_length=1, max_length=200_000)
    base_revision: StrictInt = Field(ge=1)
    note: StrictStr | None = Field(default=None, max_length=500)


class Empty(Body):
    pass


class AssignmentCreate(Body):
    reviewer_id: StrictInt = Field(ge=1)
    due_date: date | None = None


class AnnotationCreate(Body):
    revision: StrictInt = Field(ge=1)
    quote: StrictStr = Field(min_length=1, max_length=1000)
    prefix: StrictStr | None = Field(default=None, max_length=200)
    suffix: StrictStr | None = Field(default=None, max_length=200)
    comment: StrictStr = Field(min_length=1, max_length=5000)
    blocking: StrictBool = False


class ReplyCreate(Body):
    comment: StrictStr = Field(min_length=1, max_length=5000)


class DecisionCreate(Body):
    revision: StrictInt = Field(ge=1)
    decision: Literal["approve", "request_changes"]
    password: StrictStr = Field(max_length=1024)
    comment: StrictStr | None = Field(default=None, max_length=5000)
    checklist: list[StrictStr] | None = Field(default=None, max_length=20)


class PublishCreate(Body):
    revision: StrictInt = Field(ge=1)
    change_note: StrictStr | None = Field(default=None, max_length=500)


class UnpublishCreate(Body):
    reason: StrictStr = Field(min_length=1, max_length=500)


class SourceCheckCreate(Body):
    revision: StrictInt = Field(ge=1)
    key: StrictStr = Field(min_length=1, max_length=100)
    verdict: Literal["supports", "does_not_support", "outdated", "inaccessible"]
    comment: StrictStr | None = Field(default=None, max_length=5000)


class SourceFlagCreate(Body):
    key: StrictStr = Field(min_length=1, max_length=100)
    comment: StrictStr = Field(min_length=1, max_length=5000)
