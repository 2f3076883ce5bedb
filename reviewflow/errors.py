"""Domain exceptions and the handlers that turn them into pages and JSON errors.

Services raise these; views never catch them. Under ``/api`` every error, including
Flask's own 404, 405, 413 and 500, is ``{"error": {"code", "message"}}``.
"""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from reviewflow.extensions import db


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


HTTP_CODES = {400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "invalid_state", 410: "gone", 413: "payload_too_large",
              415: "invalid_input", 429: "too_many_attempts", 500: "internal_error"}
FRIENDLY = {
    400: "The request could not be understood.",
    404: "There is nothing at this address.",
    405: "This address does not accept that method.",
    413: "The request is larger than the 1 MiB limit.",
    500: "Something went wrong on our side. Nothing was changed; please try again.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _page(status: int, message: str):
    template = f"errors/{status}.html" if status in (400, 403, 404, 409, 410, 413, 500) else "errors/400.html"
    return render_template(template, message=message, status=status), status


def settle_after_refusal(exc: DomainError) -> None:
    """End the transaction of a refused action: keep what the refusal itself recorded, drop the rest."""
    if exc.keep_changes:
        db.session.commit()
    else:
        db.session.rollback()


def register_error_handlers(app: Flask) -> None:
    """Domain errors and HTTP errors: JSON under /api, friendly pages elsewhere."""

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
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        message = FRIENDLY.get(status) or exc.description or "Error"
        if status == 400 and exc.description and "CSRF" in exc.description:
            message = "This form has expired or was sent from another site. Reload the page and try again."
        if wants_json():
            return json_error(status, HTTP_CODES.get(status, "error"), message)
        return _page(status, message)

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
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if wants_json():
            return json_error(500, "internal_error", FRIENDLY[500])
        return render_template("errors/500.html", message=FRIENDLY[500], status=500), 500
