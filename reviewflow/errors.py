"""Domain exceptions and the handlers that turn them into pages and JSON errors.

Services raise these; views never catch them: a refusal shown on a form goes through
``refusal_to``. Under ``/api`` every error, including
Flask's own 404, 405, 413 and 500, is ``{"error": {"code", "message"}}``.

While the database cannot be reached (connection refused or dropped, the server shutting down
or starting up, SQLite still locked after its busy timeout) a request is answered 503
``unavailable`` with ``Retry-After``, never 500: its transaction is rolled back, a dead
connection is dropped from the pool, and the log says so once per outage, not once per request
(``outages``).
"""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, InternalServerError

from reviewflow.extensions import db
from reviewflow.outages import (
    RETRY_AFTER,
    database_unavailable,
    note_unavailable,
    register_outage_watch,
)


class DomainError(Exception):
    """Base of every refusal a service can raise."""

    status = 400
    code = "invalid_input"
    #: True when what the service recorded before refusing must be kept (a failed signing attempt is
    #: itself an audit event): the handlers commit instead of rolling back.
    keep_changes = False

    def __init__(self, message: str, code: str | None = None, field: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after = retry_after
        if code:
            self.code = code


class InvalidInput(DomainError):
    status, code = 400, "invalid_input"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class BadPassword(DomainError):
    """A wrong signing password: refused, and the failed attempt stays on record."""

    status, code = 401, "bad_password"
    keep_changes = True


class TooManyAttempts(DomainError):
    """Too many wrong signing passwords lately: signing is refused for a while (429, with Retry-After)."""

    status, code = 429, "too_many_attempts"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Gone(DomainError):
    """Something that existed and was withdrawn, such as an unpublished article (410)."""

    status, code = 410, "gone"


class Conflict(DomainError):
    """A state conflict: the action is valid for this person, but not now (409)."""

    status, code = 409, "invalid_state"


class StaleRevision(Conflict):
    code = "stale_revision"


class ReviewerUnavailable(Conflict):
    code = "reviewer_unavailable"


class SourcesUnchecked(Conflict):
    """Approval asked for while a cited source has no standing ``supports`` verdict."""

    code = "sources_unchecked"


HTTP_CODES = {400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "invalid_state", 410: "gone", 413: "payload_too_large",
              415: "invalid_input", 429: "too_many_attempts", 500: "internal_error", 503: "unavailable"}
FRIENDLY = {
    400: "The request could not be understood.",
    404: "There is nothing at this address.",
    405: "This address does not accept that method.",
    413: "The request is larger than the 1 MiB limit.",
    500: "Something went wrong on our side. Nothing was changed; please try again.",
    503: "The service is temporarily unavailable: its database is not answering just now. "
         "Please try again in a few seconds.",
}
def unavailable_response(app: Flask, exc: BaseException):
    """503 ``unavailable`` with ``Retry-After``: JSON under /api, a calm page elsewhere (no database)."""
    note_unavailable(app, exc)
    message = FRIENDLY[503]
    if wants_json():
        response = json_error(503, "unavailable", message)
    else:
        response = app.make_response(_page(503, message))
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


#: The challenge of an API 401 (RFC 9110 §11.6.1: a 401 must carry one; RFC 6750 §3 for Bearer).
BEARER_CHALLENGE = 'Bearer realm="reviewflow"'


def bearer_challenge(code: str) -> str:
    """``WWW-Authenticate`` for an API 401 with this error code.

    A missing token gets the bare challenge; a token that was sent and refused adds
    ``error="invalid_token"`` (RFC 6750 §3.1). A wrong signing password (``bad_password``) is a
    401 too, and RFC 9110 requires a challenge on every 401, so it carries the bare one: the token
    was good, and no token error is claimed.
    """
    if code == "unauthorized" and request.headers.get("Authorization"):
        return BEARER_CHALLENGE + ', error="invalid_token"'
    return BEARER_CHALLENGE


def wants_json() -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _page(status: int, message: str):
    """The error page for ``status`` (``errors/error.html``: a status without a page of its own gets the 400 one)."""
    return render_template("errors/error.html", message=message, status=status), status


def settle_after_refusal(exc: DomainError) -> None:
    """End the transaction of a refused action: keep what the refusal itself recorded, drop the rest."""
    if exc.keep_changes:
        db.session.commit()
    else:
        db.session.rollback()


class refusal_to:  # lower case, as it reads in the view: ``with refusal_to(form) as refused:``
    """Show a service's refusal on the form that asked for it, instead of an error page.

    ::

        with refusal_to(form) as refused:
            if form.validate_on_submit():
                article = articles.create_article(user, form.title.data, …)
                db.session.commit()
                return redirect(…)
        return render_template("articles/edit.html", form=form), refused.status

    A refusal of the given kinds (default: every ``DomainError``) raised in the block ends the
    transaction as the global handler would (``settle_after_refusal``: a failed signing attempt stays
    recorded) and is kept in ``refused.error``. With a form, its message goes beside the field it names
    when the form shows that field (a name glossed in parentheses, "comment (what must change)", counts
    as "comment"), else beside ``field``, else into ``form.form_errors``; without a form the view shows
    ``refused.message`` itself. Other exceptions pass through to the global handlers.
    """

    def __init__(self, form=None, *kinds: type[DomainError], field: str | None = None) -> None:
        self.form, self.kinds, self.field = form, kinds or (DomainError,), field
        self.error: DomainError | None = None

    def __enter__(self) -> refusal_to:
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if not isinstance(exc, self.kinds):
            return False
        settle_after_refusal(exc)
        self.error = exc
        if self.form is not None:
            self._place(exc)
        return True

    def _place(self, exc: DomainError) -> None:
        name = (exc.field or "").split(" (")[0]
        named = self.form._fields.get(name)  # only fields: never an attribute of the form such as "data"
        if named is None or named.type in ("HiddenField", "CSRFTokenField"):
            named = self.form[self.field] if self.field else None
        if named is not None:
            named.errors = [*named.errors, exc.message]
        else:
            self.form.form_errors.append(exc.message)

    def __bool__(self) -> bool:
        return self.error is not None

    @property
    def message(self) -> str | None:
        return self.error.message if self.error else None

    @property
    def status(self) -> int:
        """The status to show the form with: the refusal's, else 400 when the form has errors, else 200."""
        if self.error is not None:
            return self.error.status
        return 400 if self.form is not None and self.form.errors else 200


def register_error_handlers(app: Flask) -> None:
    """Domain errors and HTTP errors: JSON under /api, friendly pages elsewhere; 503 while the database is away."""
    register_outage_watch(app)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        settle_after_refusal(exc)
        if wants_json():
            response = json_error(exc.status, exc.code, exc.message)
        else:
            body, status = _page(exc.status, exc.message)
            response = app.make_response((body, status))
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        if exc.status == 401 and wants_json():
            response.headers["WWW-Authenticate"] = bearer_challenge(exc.code)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if isinstance(exc, InternalServerError) and database_unavailable(exc.original_exception):
            return unavailable_response(app, exc.original_exception)  # raised inside another handler
        status = exc.code or 500
        message = FRIENDLY.get(status) or exc.description or "Error"
        if status == 400 and exc.description and "CSRF" in exc.description:
            message = "This form has expired or was sent from another site. Reload the page and try again."
        if wants_json():
            response = json_error(status, HTTP_CODES.get(status, "error"), message)
        else:
            response = app.make_response(_page(status, message))
        # werkzeug's own headers: Allow on a 405 (RFC 9110 §15.5.6 requires it); not its Content-Type.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        if status == 401 and wants_json():
            response.headers["WWW-Authenticate"] = bearer_challenge(HTTP_CODES[401])
        return response

    @app.errorhandler(IntegrityError)
    def lost_race(exc: IntegrityError):
        """Two writes raced and the database kept one (a unique revision or version number): a 409."""
        db.session.rollback()
        message = "Someone else changed this at the same moment. Nothing of yours was saved: reload and try again."
        if wants_json():
            return json_error(409, "invalid_state", message)
        return _page(409, message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if database_unavailable(exc):
            return unavailable_response(app, exc)
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if wants_json():
            return json_error(500, "internal_error", FRIENDLY[500])
        return _page(500, FRIENDLY[500])
