"""The answers of the JSON API as pydantic models: what each operation returns, field by field.

``operation`` checks every answer against its model before sending it (``check``): the
serializers build the JSON shapes PRODUCT.md fixes, and the model checks the JSON text that goes
out (names, types, enumerations, formats), strictly, so the answer is byte for byte what the
serializers wrote. The same models make the response schemas of
the OpenAPI document, so a generated client gets typed fields and enums and a fuzzer can check every
answer. A field added to a serializer and not here fails (``extra="forbid"``): the document cannot
fall behind the answers.

Timestamps and dates are the strings the serializers write (``2026-05-23T10:20:30.123456Z``),
checked to be RFC 3339 date-times and ``YYYY-MM-DD`` dates.
"""
from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema

from reviewflow.articles.models import ArticleState
from reviewflow.auth.models import Role
from reviewflow.reviews.models import AssignmentStatus
from reviewflow.sources.models import Verdict

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


def _date_time(value: str) -> str:
    if not _RFC3339.fullmatch(value):
        raise ValueError("not an RFC 3339 date-time with its offset")
    return value


def _date(value: str) -> str:
    if not _DATE.fullmatch(value):
        raise ValueError("not a date YYYY-MM-DD")
    date.fromisoformat(value)
    return value


def _uri(value: str) -> str:
    if not _URI.fullmatch(value):
        raise ValueError("not an absolute URI")
    return value


EXAMPLE_TIME = "2026-05-23T09:41:07.512034Z"
#: An RFC 3339 date-time in UTC, as written by the serializers.
DateTime = Annotated[str, AfterValidator(_date_time),
                     WithJsonSchema({"type": "string", "format": "date-time", "examples": [EXAMPLE_TIME]})]
Date = Annotated[str, AfterValidator(_date), WithJsonSchema({"type": "string", "format": "date",
                                                             "examples": ["2026-06-30"]})]
Uri = Annotated[str, AfterValidator(_uri), WithJsonSchema({"type": "string", "format": "uri",
                                                           "examples": ["https://health.example/articles/dry-skin"]})]
Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", examples=["9f86d081884c7d659a2feaa0c55ad015"
                                                                 "a3bf4f1b2b0b822cd15d6c15b0f00a08"])]
Id = Annotated[int, Field(ge=1, examples=[42])]
Number = Annotated[int, Field(ge=1, examples=[2])]


class ErrorCode(StrEnum):
    """Every ``error.code`` the API answers, by status (reviewflow/errors.py)."""

    INVALID_INPUT = "invalid_input"            # 400, 415 and 422 (a reused Idempotency-Key)
    UNAUTHORIZED = "unauthorized"              # 401: no token, or a bad one
    BAD_PASSWORD = "bad_password"              # 401: a wrong password when signing
    FORBIDDEN = "forbidden"                    # 403
    NOT_FOUND = "not_found"                    # 404
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
    INVALID_STATE = "invalid_state"            # 409
    STALE_REVISION = "stale_revision"          # 409
    REVIEWER_UNAVAILABLE = "reviewer_unavailable"  # 409
    SOURCES_UNCHECKED = "sources_unchecked"    # 409
    GONE = "gone"                              # 410
    PAYLOAD_TOO_LARGE = "payload_too_large"    # 413
    TOO_MANY_ATTEMPTS = "too_many_attempts"    # 429
    INTERNAL_ERROR = "internal_error"          # 500
    UNAVAILABLE = "unavailable"                # 503


class Out(BaseModel):
    """An answer's object: every field named here, and no other."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class ErrorDetail(Out):
    code: ErrorCode
    message: str = Field(examples=["The request body is not valid JSON."])


class Error(Out):
    """Every error: ``{"error": {"code", "message"}}``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": {"code": "stale_revision", "message": "Revision 3 is not the current one (4)."}}]})
    error: ErrorDetail


class Person(Out):
    id: Id
    name: str = Field(examples=["Dr. Ada Osei"])


class Me(Out):
    """The person holding the token."""

    id: Id
    email: str = Field(examples=["ada@clinic.example"])
    name: str
    roles: list[Role]


class ReviewChecklist(Out):
    """What an approval attests, item by item: an approval lists every item."""

    items: list[str] = Field(examples=[["The text is accurate and current.", "Every source supports its claim."]])


class Source(Out):
    """A cited footnote, in order of first citation."""

    key: str = Field(examples=["1"])
    text: str = Field(examples=["Smith J. Winter xerosis. J Derm. 2024. https://doi.org/10.1000/xyz"])
    #: The citation's first web address as written (not checked to be a URI), or its DOI's.
    url: str | None = Field(description="The citation's first web address as written, or its DOI's; null if none",
                            examples=["https://doi.org/10.1000/xyz"])
    doi: str | None = Field(examples=["10.1000/xyz"])


class Revision(Out):
    number: Number
    content_hash: Hash
    title: str
    body: str = Field(description="Markdown")
    note: str
    created_at: DateTime
    sources: list[Source]


class Assignment(Out):
    id: Id
    reviewer: Person
    status: AssignmentStatus
    due_date: Date | None


class PublishedVersionRef(Out):
    version: Number
    revision: Number
    published_at: DateTime


class Article(Out):
    """An article with its current revision."""

    id: Id
    slug: str = Field(examples=["dry-skin-in-winter"])
    title: str = Field(examples=["Dry skin in winter"], description="The title of the current revision")
    topic: str = Field(examples=["Dermatology"])
    state: ArticleState
    writer: Person
    revision: Revision
    assignments: list[Assignment] = Field(description="The active (not withdrawn) assignments")
    published_version: PublishedVersionRef | None


class Reply(Out):
    id: Id
    annotation_id: Id
    author: Person
    comment: str
    created_at: DateTime


class Annotation(Out):
    id: Id
    status: Literal["open", "resolved"]
    revision: Number
    anchored_revision: Number
    quote: str
    prefix: str
    suffix: str
    position: int | None
    comment: str
    blocking: bool
    orphaned: bool
    author: Person
    created_at: DateTime
    resolved_at: DateTime | None
    replies: list[Reply]


class Signer(Out):
    id: Id
    name: str = Field(examples=["Dr. Ada Osei"])
    credentials: str = Field(examples=["MD, FAAD"])
    specialty: str = Field(examples=["Dermatology"])
    license_number: str


class Decision(Out):
    """A signed decision on one exact revision."""

    id: Id
    decision: Literal["approve", "request_changes"]
    revision: Number
    content_hash: Hash
    signed_at: DateTime
    meaning: str = Field(description="What the signature means, in words")
    comment: str
    checklist: list[str]
    signer: Signer


class Review(Out):
    name: str
    credentials: str
    specialty: str
    reviewed_at: DateTime


class PublishedVersion(Out):
    """A version just published."""

    version: Number
    revision: Number
    published_at: DateTime
    content_hash: Hash
    reviewed_by: list[Review]
    url: Uri = Field(description="The public page of the article")


class VersionEntry(Out):
    version: Number
    revision: Number
    published_at: DateTime
    written_by: str
    reviewed_by: list[Review]
    change_note: str
    kind: Literal["publish", "rereview"]


class PublishedSource(Out):
    key: str
    text: str
    url: str | None
    doi: str | None
    checked_by: str | None
    checked_at: DateTime | None


class Published(Out):
    """The latest published version of an article, as the public sees it."""

    title: str
    slug: str
    topic: str
    version: Number
    revision: Number
    content_hash: Hash
    body_html: str
    written_by: str
    reviewed_by: list[Review]
    first_published_at: DateTime
    published_at: DateTime = Field(description="When the latest version was published")
    last_reviewed: DateTime = Field(description="The latest signed approval behind the latest version")
    versions: list[VersionEntry]
    sources: list[PublishedSource]


class Checker(Out):
    id: Id
    name: str


class SourceCheck(Out):
    """A reviewer's verdict on a cited source (``kind`` ``check``), or a live source flagged (``flag``)."""

    id: Id
    key: str
    verdict: Verdict
    revision: Number
    comment: str
    kind: Literal["check", "flag"]
    checked_by: Checker
    checked_at: DateTime


class Actor(Out):
    id: int | None = Field(description="null for the system (commands)")
    name: str
    role: str = Field(examples=["editor"], description="The role the actor acted in; \"system\" for commands")


class Target(Out):
    type: str = Field(examples=["article"])
    id: int | None
    label: str


class AuditEvent(Out):
    """One event of the tamper-evident audit chain."""

    seq: Id
    occurred_at: DateTime
    actor: Actor
    action: str = Field(examples=["article.submitted"])
    target: Target
    article_id: int | None
    revision: int | None
    content_hash: str | None
    before_state: str | None
    after_state: str | None
    details: dict[str, Any]
    request_id: str
    prev_hash: str
    hash: str


class OpenApiDocument(BaseModel):
    """The OpenAPI 3.1 document of this API (its own schema is OpenAPI's)."""

    model_config = ConfigDict(extra="allow")
    openapi: str = Field(examples=["3.1.0"])
    info: dict[str, Any]
    paths: dict[str, Any]


_ADAPTERS: dict[Any, TypeAdapter] = {}


def adapter(model: Any) -> TypeAdapter:
    """The (cached) TypeAdapter of a response type: a model or ``list[model]``."""
    key = repr(model)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = TypeAdapter(model)
    return _ADAPTERS[key]


def check(model: Any, body: bytes | str) -> None:
    """Check the JSON text of an answer against ``model``, strictly: the bytes that go out are the
    bytes that were checked, so a model can never change an answer's values, only refuse it.

    Raises pydantic's ValidationError when an answer strays from its documented shape: a bug, answered
    500 before the operation commits, so nothing is changed by a request whose answer would lie.
    """
    adapter(model).validate_json(body, strict=True)
