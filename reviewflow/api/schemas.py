"""Request bodies of the JSON API as pydantic models.

The same models validate requests and, through their JSON Schema, make the OpenAPI
document, so the two cannot drift apart. Strict types: a number is not a title, a string is
not a number, ``true`` is not 1. As in JSON Schema, an integer is any integral number: ``1.0``
is 1, ``1.5`` is refused. A date is a ``YYYY-MM-DD`` string and nothing else (not a date-time,
not a number of seconds).
"""
from __future__ import annotations

import math
import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr, WithJsonSchema

#: The largest id or number the API accepts (the databases' 32-bit integer columns).
INT_MAX = 2_147_483_647
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _integral(value: object) -> int:
    """An int, or a float with no fractional part (JSON ``1.0``); never a bool or a string."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise ValueError("must be an integer")


def _date_only(value: object) -> date:
    """A ``YYYY-MM-DD`` string as a date; anything else (a date-time, a number) is refused."""
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return date.fromisoformat(value)


_C0_C1 = r"\u0000-\u001f\u007f-\u009f"
_ONE = _C0_C1 + r"\u2028\u2029"
_MULTI = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"


def _text(bad: str, required: bool) -> dict:
    """The JSON Schema ``pattern`` of what ``textrules`` accepts (documented here, enforced there):
    no character of ``bad``; when required, at least one that is not white space."""
    if not required:
        return {"pattern": f"^[^{bad}]*$"}
    return {"pattern": f"^[^{bad}]*[^\\s{bad}][^{bad}]*$"}


#: One line of text (titles, notes, reasons): no control character, nor a line or paragraph separator.
ONE_LINE = _text(_ONE, True)
ONE_LINE_OPTIONAL = _text(_ONE, False)
#: Text of several lines (bodies, comments): tab, LF and CR are the only control characters allowed.
MULTI_LINE = _text(_MULTI, True)
MULTI_LINE_OPTIONAL = _text(_MULTI, False)

#: A positive integer, 1.0 counting as 1.
Positive = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=INT_MAX),
                     WithJsonSchema({"type": "integer", "minimum": 1, "maximum": INT_MAX})]
#: A calendar date, strictly ``YYYY-MM-DD``.
StrictDate = Annotated[date, BeforeValidator(_date_only),
                       WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-06-30"]})]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ArticleCreate(Body):
    title: StrictStr = Field(min_length=1, max_length=200, json_schema_extra=ONE_LINE)
    body: StrictStr = Field(min_length=1, max_length=200_000, json_schema_extra=MULTI_LINE)
    topic: StrictStr | None = Field(default=None, max_length=120, json_schema_extra=ONE_LINE_OPTIONAL)


class RevisionCreate(Body):
    title: StrictStr = Field(min_length=1, max_length=200, json_schema_extra=ONE_LINE)
    body: StrictStr = Field(min_length=1, max_length=200_000, json_schema_extra=MULTI_LINE)
    base_revision: Positive
    note: StrictStr | None = Field(default=None, max_length=500, json_schema_extra=ONE_LINE_OPTIONAL)


class Empty(Body):
    pass


class AssignmentCreate(Body):
    reviewer_id: Positive
    due_date: StrictDate | None = None


class AnnotationCreate(Body):
    revision: Positive
    quote: StrictStr = Field(min_length=1, max_length=1000, json_schema_extra=MULTI_LINE)
    prefix: StrictStr | None = Field(default=None, max_length=200)
    suffix: StrictStr | None = Field(default=None, max_length=200)
    comment: StrictStr = Field(min_length=1, max_length=5000, json_schema_extra=MULTI_LINE)
    blocking: StrictBool = False


class ReplyCreate(Body):
    comment: StrictStr = Field(min_length=1, max_length=5000, json_schema_extra=MULTI_LINE)


class DecisionCreate(Body):
    revision: Positive
    decision: Literal["approve", "request_changes"]
    password: StrictStr = Field(max_length=1024)
    comment: StrictStr | None = Field(default=None, max_length=5000, json_schema_extra=MULTI_LINE_OPTIONAL)
    checklist: list[StrictStr] | None = Field(default=None, max_length=20)
    #: An optional field beside those of PRODUCT.md: bodies ignore unknown fields, so a client that
    #: never sends it is unaffected; only a signer with two-factor sign-in on must (else 400 / 401).
    code: StrictStr | None = Field(
        default=None, max_length=32,
        description="The current 6-digit code of the signer's authenticator app; required, and checked like the "
                    "password (401 bad_password), when the signer has two-factor sign-in on; ignored otherwise.")


class PublishCreate(Body):
    revision: Positive
    change_note: StrictStr | None = Field(default=None, max_length=500, json_schema_extra=ONE_LINE_OPTIONAL)


class UnpublishCreate(Body):
    reason: StrictStr = Field(min_length=1, max_length=500, json_schema_extra=ONE_LINE)


class SourceCheckCreate(Body):
    revision: Positive
    key: StrictStr = Field(min_length=1, max_length=100)
    verdict: Literal["supports", "does_not_support", "outdated", "inaccessible"]
    comment: StrictStr | None = Field(default=None, max_length=5000, json_schema_extra=MULTI_LINE_OPTIONAL)


class SourceFlagCreate(Body):
    key: StrictStr = Field(min_length=1, max_length=100)
    comment: StrictStr = Field(min_length=1, max_length=5000, json_schema_extra=MULTI_LINE)
