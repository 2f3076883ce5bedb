"""The typed OpenAPI document and the HTTP details around it (issue 14, points 1 and 4).

Every operation has a named operationId, a typed answer (enums, formats) and the error codes the
app really answers; the answers go out through their models unchanged; integers accept ``1.0``
as JSON Schema does, dates are ``YYYY-MM-DD`` only; a 405 says ``Allow`` and an API 401 says
``WWW-Authenticate: Bearer``.
"""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from reviewflow import errors
from reviewflow.api import idempotency
from reviewflow.api import responses as r
from reviewflow.api import serializers as out
from reviewflow.api.openapi import OPERATIONS
from reviewflow.articles.models import ArticleState
from reviewflow.public import queries as public_queries
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import AssignmentStatus
from reviewflow.sources.models import Verdict
from tests.api.test_api import assert_error
from tests.factories import CHECKLIST, make_article

OPERATION_IDS = {
    ("GET", "/openapi.json"): "getOpenApi", ("GET", "/me"): "getMe",
    ("GET", "/review-checklist"): "getReviewChecklist", ("POST", "/articles"): "createArticle",
    ("GET", "/articles/{id}"): "getArticle", ("POST", "/articles/{id}/revisions"): "saveRevision",
    ("POST", "/articles/{id}/submit"): "submitArticle", ("POST", "/articles/{id}/assignments"): "assignReviewer",
    ("DELETE", "/articles/{id}/assignments/{assignment_id}"): "withdrawAssignment",
    ("GET", "/articles/{id}/annotations"): "listAnnotations", ("POST", "/articles/{id}/annotations"): "annotate",
    ("POST", "/annotations/{id}/replies"): "replyToAnnotation",
    ("POST", "/annotations/{id}/resolve"): "resolveAnnotation",
    ("POST", "/annotations/{id}/reopen"): "reopenAnnotation", ("POST", "/articles/{id}/decisions"): "signDecision",
    ("POST", "/articles/{id}/publish"): "publishRevision", ("POST", "/articles/{id}/unpublish"): "unpublishArticle",
    ("GET", "/articles/{id}/audit"): "listArticleAudit", ("GET", "/published/{slug}"): "getPublished",
    ("POST", "/articles/{id}/source-checks"): "createSourceCheck",
    ("GET", "/articles/{id}/source-checks"): "listSourceChecks", ("POST", "/articles/{id}/source-flags"): "flagSource",
}


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def schema_of(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def answer_schema(spec: dict, method: str, path: str) -> dict:
    op = spec["paths"][path][method.lower()]
    ok = next(v for k, v in op["responses"].items() if k.startswith("2"))
    return schema_of(spec, ok["content"]["application/json"]["schema"])


def prop(spec: dict, schema: dict, *names: str) -> dict:
    for name in names:
        schema = schema_of(spec, schema)
        schema = schema["items"] if name == "[]" else schema["properties"][name]
    sub = schema_of(spec, schema)
    for option in sub.get("anyOf", []):  # nullable: the non-null branch
        if option.get("type") != "null":
            return schema_of(spec, option)
    return sub


# The document -----------------------------------------------------------------------------------

def test_every_operation_has_its_named_operation_id(spec):
    found = {(m.upper(), p): op["operationId"] for p, ops in spec["paths"].items() for m, op in ops.items()}
    assert found == OPERATION_IDS


def test_every_answer_is_typed(spec):
    """No answer is a bare ``{"type": "object"}``: each names its fields (or its items' fields)."""
    for (method, path) in OPERATION_IDS:
        schema = answer_schema(spec, method, path)
        if schema.get("type") == "array":
            schema = schema_of(spec, schema["items"])
        assert schema.get("properties"), (method, path)
        if path != "/openapi.json":
            assert schema.get("additionalProperties") is False, (method, path)


def test_enums_and_formats(spec):
    article = answer_schema(spec, "GET", "/articles/{id}")
    assert prop(spec, article, "state")["enum"] == [s.value for s in ArticleState]
    assert prop(spec, article, "assignments", "[]", "status")["enum"] == [s.value for s in AssignmentStatus]
    assert prop(spec, article, "revision", "created_at")["format"] == "date-time"
    assert prop(spec, article, "assignments", "[]", "due_date")["format"] == "date"
    decision = answer_schema(spec, "POST", "/articles/{id}/decisions")
    assert set(prop(spec, decision, "decision")["enum"]) == {"approve", "request_changes"}
    assert prop(spec, decision, "signed_at")["format"] == "date-time"
    check = answer_schema(spec, "POST", "/articles/{id}/source-checks")
    assert prop(spec, check, "verdict")["enum"] == [v.value for v in Verdict]
    published = answer_schema(spec, "POST", "/articles/{id}/publish")
    assert prop(spec, published, "url")["format"] == "uri"
    me = answer_schema(spec, "GET", "/me")
    assert set(prop(spec, me, "roles", "[]")["enum"]) == {"writer", "reviewer", "editor", "admin"}
    annotation = answer_schema(spec, "POST", "/articles/{id}/annotations")
    assert prop(spec, annotation, "status")["enum"] == ["open", "resolved"]
    assignment = spec["paths"]["/articles/{id}/assignments"]["post"]["requestBody"]["content"]["application/json"]
    assert prop(spec, assignment["schema"], "due_date") == {"type": "string", "format": "date",
                                                            "examples": ["2026-06-30"]}
    assert any("examples" in s for s in spec["components"]["schemas"].values())


def _codes_raised() -> set[str]:
    def walk(cls):
        yield cls
        for sub in cls.__subclasses__():
            yield from walk(sub)
    return {c.code for c in walk(errors.DomainError)} | set(errors.HTTP_CODES.values())


def test_error_codes_are_enumerated_exactly(spec):
    """The document's ``Error.code`` lists every code the app answers (errors.py), and no other."""
    assert idempotency.KeyReused.code == "invalid_input"
    error = schema_of(spec, {"$ref": "#/components/schemas/Error"})
    code = prop(spec, error, "error", "code")
    assert set(code["enum"]) == _codes_raised() == {c.value for c in r.ErrorCode}
    detail = schema_of(spec, error["properties"]["error"])
    assert detail["required"] == ["code", "message"]


def test_error_headers_documented(spec):
    op = spec["paths"]["/articles/{id}/decisions"]["post"]
    assert "WWW-Authenticate" in op["responses"]["401"]["headers"]
    assert "Retry-After" in op["responses"]["429"]["headers"]
    assert "Retry-After" in op["responses"]["503"]["headers"]
    assert op["responses"]["422"]  # a reused Idempotency-Key
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op["parameters"])


def test_bodies_required_only_where_needed(spec):
    for path in ("/articles/{id}/submit", "/annotations/{id}/resolve", "/annotations/{id}/reopen"):
        assert spec["paths"][path]["post"]["requestBody"]["required"] is False, path
    for path in ("/articles", "/articles/{id}/decisions", "/articles/{id}/publish"):
        assert spec["paths"][path]["post"]["requestBody"]["required"] is True, path


def test_every_registered_operation_has_a_response_model():
    for op in OPERATIONS:
        assert op.response is not None and op.op_id, op.path


# Answers go out through their models, unchanged ------------------------------------------------

def test_models_leave_every_answer_as_the_serializers_wrote_it(app, api, cast, db):
    """The whole workflow's answers, from the serializers, pass their models byte for byte."""
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    ann = reviews.add_annotation(cast["rev"], article, 1, "Cold air and low humidity dry the skin barrier.",
                                 "Cite this.", False, "", "")
    reviews.reply_to_annotation(cast["writer"], ann, "Done.")
    signed = reviews.sign_decision(cast["rev"], article, 1, "approve", "Corr3ct-Horse-Battery", "Fine.", CHECKLIST)
    version = publishing.publish_revision(cast["editor"], article, 1, "First.")
    db.session.commit()
    article_json = out.article_json(article)
    pairs = [(r.Article, article_json), (r.Annotation, out.annotation_json(ann)),
             (r.Reply, out.reply_json(ann.replies[0])), (r.Decision, out.decision_json(signed)),
             (r.PublishedVersion, out.version_json(version, "https://health.example/articles/x")),
             (r.Published, out.published_json(public_queries.public_article(article.slug))),
             (r.Assignment, out.assignment_json(reviews.get_assignment(article, article_json["assignments"][0]["id"])))]
    from reviewflow.audit.models import AuditEvent
    pairs += [(r.AuditEvent, out.event_json(e)) for e in db.session.query(AuditEvent).all()]
    for model, data in pairs:
        r.check(model, json.dumps(data))


def test_an_answer_that_strays_from_its_model_is_refused():
    good = {"id": 1, "email": "a@b.example", "name": "A", "roles": ["writer"]}
    r.check(r.Me, json.dumps(good))
    for bad in ({**good, "secret": 1}, {**good, "roles": ["pope"]}, {**good, "id": "1"}, {**good, "id": 1.0},
                {k: v for k, v in good.items() if k != "email"}):
        with pytest.raises(ValidationError):
            r.check(r.Me, json.dumps(bad))
    with pytest.raises(ValidationError):
        r.check(r.Reply, json.dumps({"id": 1, "annotation_id": 1, "author": {"id": 1, "name": "A"}, "comment": "c",
                                     "created_at": "2026-05-23 10:00:00"}))


# Integers and dates -----------------------------------------------------------------------------

@pytest.mark.parametrize("value, status", [(1.0, 201), (1, 201), (1.5, 400), (True, 400), ("1", 400), (None, 400),
                                           (1e300, 400), (0.0, 400)])
def test_an_integer_is_any_integral_number(api, cast, db, value, status):
    article = make_article(cast["writer"], "draft")
    response = api(cast["writer"], "POST", f"/articles/{article.id}/revisions",
                   json={"title": "T", "body": "B", "base_revision": value})
    if status == 201:
        assert response.status_code == 201 and response.get_json()["revision"]["number"] == 2
    else:
        assert_error(response, 400, "invalid_input")


def test_a_float_reviewer_id_that_is_integral_assigns(api, cast, db):
    article = make_article(cast["writer"], "submitted")
    response = api(cast["editor"], "POST", f"/articles/{article.id}/assignments",
                   json={"reviewer_id": float(cast["rev"].id)})
    assert response.status_code == 201 and response.get_json()["reviewer"]["id"] == cast["rev"].id


@pytest.mark.parametrize("due, status", [("2099-01-31", 201), (None, 201), ("2099-01-31T00:00:00", 400),
                                         ("2099-01-31T00:00:00Z", 400), (4070908800, 400), ("2099-02-30", 400),
                                         ("20990131", 400), ("2099-1-31", 400), (" 2099-01-31", 400)])
def test_due_date_is_a_date_and_nothing_else(api, cast, db, due, status):
    article = make_article(cast["writer"], "submitted")
    response = api(cast["editor"], "POST", f"/articles/{article.id}/assignments",
                   json={"reviewer_id": cast["rev"].id, "due_date": due})
    if status == 201:
        assert response.status_code == 201 and response.get_json()["due_date"] == due
    else:
        assert_error(response, 400, "invalid_input")


def test_bodiless_operations_take_no_body(api, cast, db):
    article = make_article(cast["writer"], "draft")
    response = api(cast["writer"], "POST", f"/articles/{article.id}/submit")  # no body, no Content-Type
    assert response.status_code == 200 and response.get_json()["state"] == "submitted"


# HTTP: Allow and WWW-Authenticate --------------------------------------------------------------

def test_405_says_allow(api, cast, client):
    response = api(cast["writer"], "PUT", "/articles/1", json={})
    assert_error(response, 405, "method_not_allowed")
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET"}
    response = client.delete("/api/v1/articles")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    page = client.put("/login")  # pages too: RFC 9110 requires Allow on every 405
    assert page.status_code == 405 and "POST" in page.headers["Allow"] and "GET" in page.headers["Allow"]
    assert page.mimetype == "text/html"


def test_401_says_www_authenticate_bearer(api, cast, client, db):
    response = client.get("/api/v1/me")
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="reviewflow"'
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="reviewflow", error="invalid_token"'


def test_a_wrong_signing_password_carries_the_challenge_too(api, cast, db):
    """RFC 9110 §15.5.2: every 401 carries a challenge; ``bad_password`` gets the bare one (the token was
    good), also when a retry with the same Idempotency-Key replays it."""
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    body = {"revision": 1, "decision": "approve", "password": "wrong", "checklist": CHECKLIST}
    for _ in range(2):
        response = api(cast["rev"], "POST", f"/articles/{article.id}/decisions", json=body,
                       environ_base={"HTTP_IDEMPOTENCY_KEY": "sign-1"})
        assert_error(response, 401, "bad_password")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="reviewflow"'
    assert response.headers["Idempotent-Replayed"] == "true"


def test_pages_get_no_bearer_challenge(client, db):
    response = client.get("/dashboard")
    assert "WWW-Authenticate" not in response.headers


def test_links_lead_from_an_answer_to_the_next_operations(spec):
    """OpenAPI links (what schemathesis's stateful phase follows, and a client's docs show)."""
    ids = {op["operationId"] for ops in spec["paths"].values() for op in ops.values()}
    created = spec["paths"]["/articles"]["post"]["responses"]["201"]["links"]
    assert created["getArticle"] == {"operationId": "getArticle", "parameters": {"id": "$response.body#/id"}}
    assigned = spec["paths"]["/articles/{id}/assignments"]["post"]["responses"]["201"]["links"]
    assert assigned["withdrawAssignment"]["parameters"] == {"id": "$request.path.id",
                                                            "assignment_id": "$response.body#/id"}
    for ops in spec["paths"].values():
        for op in ops.values():
            for answer in op["responses"].values():
                for link in answer.get("links", {}).values():
                    assert link["operationId"] in ids, link
