"""Registering API operations and building the OpenAPI 3 document from them.

``operation`` wraps an endpoint: it authenticates the bearer token, parses and
validates the JSON body with the operation's pydantic model, calls the endpoint,
checks the JSON it answers against the operation's response model (``responses``),
commits once and returns it. The same registration feeds ``document()``: operationIds,
request and response schemas, error answers with their codes and headers, and links.
An answer that strays from its model is a bug answered 500 before the commit, so the
document never describes an answer the API does not give.

Every operation but a GET honours an ``Idempotency-Key`` header (``idempotency``): a retry of
the same request gets the first answer again, and the key's row commits with the endpoint's work.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from pydantic import BaseModel, ValidationError

from reviewflow.api import idempotency, responses
from reviewflow.auth.services import user_for_token
from reviewflow.errors import DomainError, InvalidInput, Unauthorized
from reviewflow.extensions import csrf, db

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

#: What each error status means, with the codes it carries (``responses.ErrorCode``).
ERROR_TEXT = {400: "Invalid input (`invalid_input`)",
              401: "Missing or bad token (`unauthorized`), or a wrong password when signing (`bad_password`); "
                   "with `WWW-Authenticate: Bearer`",
              403: "Forbidden for this person (`forbidden`)", 404: "Not found (`not_found`)",
              409: "Conflict with the current state (`invalid_state`, `stale_revision`, `reviewer_unavailable`, "
                   "`sources_unchecked`)",
              410: "Unpublished (`gone`)", 413: "Request body over 1 MiB (`payload_too_large`)",
              429: "Too many wrong signing passwords lately (`too_many_attempts`); see Retry-After",
              503: "The database cannot be reached for now (`unavailable`); see Retry-After"}
#: What 400, 409 and 422 also mean on an operation that takes an ``Idempotency-Key``.
ERROR_TEXT_KEYED = {400: "Invalid input, or an Idempotency-Key that is not 1 to 200 printable ASCII characters "
                         "(`invalid_input`)",
                    409: ERROR_TEXT[409] + "; or " + idempotency.RESPONSES[409],
                    422: idempotency.RESPONSES[422] + " (`invalid_input`)"}
#: Headers that come with an error status, documented on it.
ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "description": "The Bearer challenge (RFC 6750): "
                               "`Bearer realm=\"reviewflow\"`, with `error=\"invalid_token\"` for a bad token",
                               "schema": {"type": "string", "pattern": "^Bearer"}}},
    429: {"Retry-After": {"required": True, "description": "Seconds to wait",
                          "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
    503: {"Retry-After": {"required": True, "description": "Seconds to wait",
                          "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}
REF = "#/components/schemas/{model}"


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    #: The operationId: what a generated client names the call (``createArticle``).
    op_id: str
    body: type[BaseModel] | None
    status: int
    #: The answer's type (a ``responses`` model, or a list of one): checks the answer and documents it.
    response: Any
    errors: list[int]
    public: bool
    params: dict = field(default_factory=dict)
    #: The operation honours an ``Idempotency-Key`` (every one but a GET or a public one).
    keyed: bool = False
    #: OpenAPI links from the answer to what a client can do next: ``{operationId: {param: expression}}``.
    links: dict = field(default_factory=dict)


OPERATIONS: list[Operation] = []


def _flask_path(path: str) -> str:
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def _parse(model: type[BaseModel] | None) -> BaseModel | None:
    if model is None:
        return None
    raw = request.get_data(cache=True)
    if not raw.strip():
        payload: object = {}
    else:
        try:
            payload = request.get_json(force=True, silent=False)
        except Exception:  # werkzeug raises BadRequest for malformed JSON
            raise InvalidInput("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidInput("The request body must be a JSON object.")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{where}: {first['msg']}", field=where) from None


def operation(method: str, path: str, summary: str, *, op_id: str, response: Any, body: type[BaseModel] | None = None,
              status: int = 200, errors: tuple[int, ...] = (), public: bool = False, params=None, links=None):
    """Register an API operation and its route. The endpoint gets ``(user, body, **path_params)`` and
    returns the answer's JSON values, checked against ``response`` (``responses.check``) as they go out.
    ``op_id`` is the operationId a generated client names the call by; ``links`` lead from the answer
    to the operations that take its ids.

    Unless the operation is a GET or public, a request with an ``Idempotency-Key`` is answered
    through ``idempotency``: a repeat gets the stored answer and the endpoint is not called; a first
    request stores its answer in the same commit as the endpoint's work.
    """
    keyed = method != "GET" and not public
    errs = sorted(set(errors) | ({401} if not public else set()) | ({400, 413} if body else set())
                  | ({400, 409, 422} if keyed else set()) | {503})
    op = Operation(method, path, summary, op_id, body, status, response, errs, public, params or {}, keyed,
                   links or {})
    OPERATIONS.append(op)

    def register(fn):
        @wraps(fn)
        def endpoint(**kwargs):
            user = None
            if not public:
                user = user_for_token(_bearer())
                if user is None:
                    raise Unauthorized("A valid API token is needed: send Authorization: Bearer <token>.")
                g.api_user = user
            key = idempotency.read_key() if keyed else None
            payload = _parse(body)
            claim = idempotency.begin(user, key) if key is not None else None
            if isinstance(claim, Response):
                return claim
            try:
                result = fn(user, payload, **kwargs)
            except DomainError as exc:
                if claim is not None:
                    idempotency.refused(claim, exc)
                raise
            response = jsonify(result)
            response.status_code = status
            responses.check(op.response, response.get_data())
            if claim is not None:
                idempotency.finish(claim, response)
            db.session.commit()
            return response

        bp.add_url_rule(_flask_path(path), endpoint=fn.__name__, view_func=endpoint, methods=[method])
        return fn

    return register


def _schema(model: Any, schemas: dict, mode: str) -> dict:
    """The JSON Schema of ``model`` (a model, or a list of one), its models moved into ``schemas``."""
    schema = responses.adapter(model).json_schema(ref_template=REF, mode=mode)
    schemas.update(schema.pop("$defs", {}))
    if isinstance(model, type) and issubclass(model, BaseModel):
        schemas[model.__name__] = schema
        return {"$ref": REF.format(model=model.__name__)}
    return schema


def document() -> dict:
    """The OpenAPI 3.1 document of every registered operation."""
    paths: dict = {}
    schemas: dict = {}
    error_ref = _schema(responses.Error, schemas, "serialization")
    for op in OPERATIONS:
        entry: dict = {"summary": op.summary, "operationId": op.op_id,
                       "responses": {str(op.status): {"description": "Success", "content": {
                           "application/json": {"schema": _schema(op.response, schemas, "serialization")}}}}}
        names = re.findall(r"\{(\w+)\}", op.path)
        parameters = [{"name": n, "in": "path", "required": True,
                       "schema": op.params.get(n, {"type": "integer", "minimum": 1})} for n in names]
        if op.keyed:
            parameters.append(dict(idempotency.PARAMETER))
            entry["responses"][str(op.status)]["headers"] = {"Idempotent-Replayed": dict(idempotency.REPLAYED)}
        if parameters:
            entry["parameters"] = parameters
        if op.links:
            entry["responses"][str(op.status)]["links"] = {
                target: {"operationId": target, "parameters": values} for target, values in op.links.items()}
        if op.body is not None:
            schema = _schema(op.body, schemas, "validation")
            required = bool(op.body.model_json_schema().get("required"))
            entry["requestBody"] = {"required": required, "content": {"application/json": {"schema": schema}}}
        texts = {**ERROR_TEXT, **ERROR_TEXT_KEYED} if op.keyed else ERROR_TEXT
        for code in op.errors:
            answer = {"description": texts.get(code, "Error"), "content": {"application/json": {"schema": error_ref}}}
            if code in ERROR_HEADERS:
                answer["headers"] = ERROR_HEADERS[code]
            entry["responses"][str(code)] = answer
        entry["security"] = [] if op.public else [{"bearer": []}]
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "reviewflow API", "version": "1.0.0",
                 "description": "Medical review workflow: articles, revisions, reviews, signatures and publishing."},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
