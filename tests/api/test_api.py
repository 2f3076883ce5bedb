"""The JSON API against its contract in PRODUCT.md: status codes, JSON shapes and error codes.

Errors are always ``{"error": {"code", "message"}}``; refusals change nothing. The OpenAPI
document describes every operation well enough for a fuzzer to drive it.
"""
from __future__ import annotations

import re

import pytest

from reviewflow.articles import services as articles
from reviewflow.reviews import services as reviews
from tests.factories import BODY, CHECKLIST, PASSWORD, event_count, events_after, make_article, make_user, verify

QUOTE = "Cold air and low humidity dry the skin barrier."

#: Every operation of PRODUCT.md: method, path, whether it takes a JSON body, whether it is public.
OPERATIONS = [
    ("GET", "/me", False, False),
    ("POST", "/articles", True, False),
    ("GET", "/articles/{id}", False, False),
    ("POST", "/articles/{id}/revisions", True, False),
    ("POST", "/articles/{id}/submit", True, False),
    ("POST", "/articles/{id}/assignments", True, False),
    ("DELETE", "/articles/{id}/assignments/{assignment_id}", False, False),
    ("GET", "/articles/{id}/annotations", False, False),
    ("POST", "/articles/{id}/annotations", True, False),
    ("POST", "/annotations/{id}/replies", True, False),
    ("POST", "/annotations/{id}/resolve", True, False),
    ("POST", "/annotations/{id}/reopen", True, False),
    ("POST", "/articles/{id}/decisions", True, False),
    ("POST", "/articles/{id}/publish", True, False),
    ("POST", "/articles/{id}/unpublish", True, False),
    ("GET", "/articles/{id}/audit", False, False),
    ("POST", "/articles/{id}/source-checks", True, False),
    ("GET", "/articles/{id}/source-checks", False, False),
    ("POST", "/articles/{id}/source-flags", True, False),
    ("GET", "/published/{slug}", False, True),
    ("GET", "/review-checklist", False, True),
    ("GET", "/openapi.json", False, True),
]
PRIVATE = [(m, p) for m, p, _, public in OPERATIONS if not public]
WITH_BODY = [(m, p) for m, p, body, _ in OPERATIONS if body]


def assert_error(response, status: int, code: str) -> dict:
    """The response is exactly the error shape of PRODUCT.md with this status and code."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.is_json, response.headers.get("Content-Type")
    data = response.get_json()
    assert set(data) == {"error"} and set(data["error"]) == {"code", "message"}, data
    assert data["error"]["code"] == code, data
    assert isinstance(data["error"]["message"], str) and data["error"]["message"].strip()
    assert "Traceback" not in data["error"]["message"]
    return data["error"]


def fill(path: str, **values) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), 1)), path)


@pytest.fixture(autouse=True)
def _tokens_first(request):
    """Issue every cast member's token before the test, so token events do not count as its events."""
    if "cast" in request.fixturenames and "api" in request.fixturenames:
        api, cast = request.getfixturevalue("api"), request.getfixturevalue("cast")
        for person in cast.values():
            assert api(person, "GET", "/me").status_code == 200


@pytest.fixture
def in_review(db, cast):
    """An article in review by ``rev`` (rev2 not assigned)."""
    return make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])


# Authentication, error shape, limits --------------------------------------------------------------

@pytest.mark.parametrize("method, path", PRIVATE, ids=[f"{m} {p}" for m, p in PRIVATE])
def test_no_token_is_401(client, db, method, path):
    before = event_count()
    assert_error(client.open("/api/v1" + fill(path), method=method, json={}), 401, "unauthorized")
    assert event_count() == before


@pytest.mark.parametrize("method, path", PRIVATE, ids=[f"{m} {p}" for m, p in PRIVATE])
@pytest.mark.parametrize("header", ["Bearer rf_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "rf_token",
                                    "Bearer " + "x" * 500])
def test_bad_token_is_401(client, db, method, path, header):
    response = client.open("/api/v1" + fill(path), method=method, json={}, headers={"Authorization": header})
    assert_error(response, 401, "unauthorized")


def test_revoked_token_and_inactive_account_are_401(client, db, cast):
    from reviewflow.auth import services as accounts
    from tests.factories import token_for

    user = make_user("writer")
    token = token_for(user)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    accounts.update_user(cast["admin"], user, active=False)
    db.session.commit()
    assert_error(client.get("/api/v1/me", headers=headers), 401, "unauthorized")

    other = make_user("writer")
    token2 = token_for(other)
    row = accounts.tokens_of(other)[0]
    accounts.revoke_token(other, row)
    db.session.commit()
    assert_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {token2}"}), 401, "unauthorized")


def test_token_last_use_is_stamped(api, db, cast):
    from reviewflow.auth import services as accounts

    api(cast["writer"], "GET", "/me")
    db.session.expire_all()
    assert accounts.tokens_of(cast["writer"])[0].last_used_at is not None


@pytest.mark.parametrize("method, path", WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_malformed_json_is_400(api, cast, in_review, method, path):
    before = event_count()
    for data in (b"{not json", b'{"title": "unterminated', b"\xff\xfe\x00"):
        response = api(cast["editor"], method, fill(path, id=in_review.id), data=data,
                       content_type="application/json")
        assert_error(response, 400, "invalid_input")
    for payload in ([1, 2], "a string", 42, None):
        response = api(cast["editor"], method, fill(path, id=in_review.id), json=payload)
        if payload is None:  # "null" is valid JSON but not an object
            response = api(cast["editor"], method, fill(path, id=in_review.id), data=b"null",
                           content_type="application/json")
        assert_error(response, 400, "invalid_input")
    assert event_count() == before


@pytest.mark.parametrize("method, path", WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_body_over_one_mebibyte_is_413(api, cast, in_review, method, path):
    big = b'{"title": "x", "body": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    response = api(cast["editor"], method, fill(path, id=in_review.id), data=big, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_body_just_under_the_limit_is_read(api, cast, db):
    body = "b" * (190_000)
    response = api(cast["writer"], "POST", "/articles", json={"title": "Long", "body": body})
    assert response.status_code == 201


ID_PATHS = [(m, p) for m, p, _, _ in OPERATIONS if "{id}" in p]


@pytest.mark.parametrize("bad_id", ["999999", "abc", "99999999999999999999999", "-1", "0", "1.5"])
@pytest.mark.parametrize("method, path", ID_PATHS, ids=[f"{m} {p}" for m, p in ID_PATHS])
def test_unknown_or_impossible_ids_are_404(api, cast, db, method, path, bad_id):
    valid = {"/articles/{id}/revisions": {"title": "T", "body": "B", "base_revision": 1},
             "/articles/{id}/assignments": {"reviewer_id": cast["rev"].id},
             "/articles/{id}/annotations": {"revision": 1, "quote": "x", "comment": "c"},
             "/annotations/{id}/replies": {"comment": "c"},
             "/articles/{id}/decisions": {"revision": 1, "decision": "approve", "password": PASSWORD,
                                          "checklist": CHECKLIST},
             "/articles/{id}/publish": {"revision": 1},
             "/articles/{id}/unpublish": {"reason": "r"},
             "/articles/{id}/source-checks": {"revision": 1, "key": "a", "verdict": "supports"},
             "/articles/{id}/source-flags": {"key": "a", "comment": "Replaced."}}
    body = valid.get(path, {}) if method != "GET" else None
    response = api(cast["editor"], method, fill(path, id=bad_id, assignment_id=1), json=body)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("bad", ["999999", "abc", "99999999999999999999999"])
def test_unknown_assignment_is_404(api, cast, in_review, bad):
    assert_error(api(cast["editor"], "DELETE", f"/articles/{in_review.id}/assignments/{bad}"), 404, "not_found")


def test_assignment_of_another_article_is_404(api, cast, in_review):
    other = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title="Other")
    assignment = reviews.policy.active_assignment(cast["rev"], other)
    response = api(cast["editor"], "DELETE", f"/articles/{in_review.id}/assignments/{assignment.id}")
    assert_error(response, 404, "not_found")


def test_unknown_api_path_and_wrong_method(api, cast, client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(api(cast["writer"], "PUT", "/articles/1", json={}), 405, "method_not_allowed")
    assert_error(api(cast["writer"], "GET", "/articles"), 405, "method_not_allowed")


# /me ---------------------------------------------------------------------------------------------

def test_me(api, cast):
    response = api(cast["rev"], "GET", "/me")
    assert response.status_code == 200
    assert response.get_json() == {"id": cast["rev"].id, "email": cast["rev"].email, "name": "Dana Okafor",
                                   "roles": ["reviewer"]}


# Articles and revisions ---------------------------------------------------------------------------

def assert_article_shape(data: dict) -> None:
    assert {"id", "slug", "title", "state", "writer", "revision", "assignments", "published_version"} <= set(data)
    assert set(data["writer"]) >= {"id", "name"}
    assert {"number", "content_hash", "title", "body"} <= set(data["revision"])
    assert re.fullmatch(r"[0-9a-f]{64}", data["revision"]["content_hash"])
    for a in data["assignments"]:
        assert {"reviewer", "status"} <= set(a) and {"id", "name"} <= set(a["reviewer"])
        assert a["status"] in ("pending", "approved", "changes_requested", "withdrawn")
    pv = data["published_version"]
    assert pv is None or {"version", "revision", "published_at"} <= set(pv)


def test_create_article(api, cast):
    before = event_count()
    response = api(cast["writer"], "POST", "/articles", json={"title": "Sun safety", "body": BODY, "topic": "Skin"})
    assert response.status_code == 201
    data = response.get_json()
    assert_article_shape(data)
    assert data["state"] == "draft" and data["slug"] == "sun-safety" and data["title"] == "Sun safety"
    assert data["writer"] == {"id": cast["writer"].id, "name": "Wren Alder"}
    assert data["revision"]["number"] == 1 and data["revision"]["body"] == BODY
    assert data["assignments"] == [] and data["published_version"] is None
    assert event_count() == before + 1


@pytest.mark.parametrize("who", ["rev", "editor", "admin"])
def test_create_article_needs_the_writer_role(api, cast, who):
    before = event_count()
    assert_error(api(cast[who], "POST", "/articles", json={"title": "T", "body": "B"}), 403, "forbidden")
    assert event_count() == before


@pytest.mark.parametrize("payload", [
    {"body": "B"}, {"title": "T"}, {"title": "", "body": "B"}, {"title": "T", "body": ""},
    {"title": "   ", "body": "B"}, {"title": 5, "body": "B"}, {"title": "T", "body": ["B"]},
    {"title": "x" * 201, "body": "B"}, {"title": "T", "body": "B", "topic": 7}, {"title": None, "body": "B"},
])
def test_create_article_bad_input_is_400(api, cast, payload):
    before = event_count()
    assert_error(api(cast["writer"], "POST", "/articles", json=payload), 400, "invalid_input")
    assert event_count() == before


@pytest.mark.parametrize("who, status", [("writer", 200), ("editor", 200), ("admin", 200), ("rev", 200),
                                         ("writer2", 404), ("rev2", 404), ("expired", 404)])
def test_get_article_by_role(api, cast, in_review, who, status):
    """Someone who cannot see the article learns nothing of it, not even that it exists (404)."""
    response = api(cast[who], "GET", f"/articles/{in_review.id}")
    if status == 200:
        assert response.status_code == 200
        data = response.get_json()
        assert_article_shape(data)
        assert data["state"] == "in_review"
        assert [(a["reviewer"]["id"], a["status"]) for a in data["assignments"]] == [(cast["rev"].id, "pending")]
    else:
        assert_error(response, 404, "not_found")


def test_save_revision(api, cast, in_review):
    response = api(cast["writer"], "POST", f"/articles/{in_review.id}/revisions",
                   json={"title": "Eczema in winter (updated)", "body": BODY + "\nNew.\n", "base_revision": 1,
                         "note": "Added a line"})
    assert response.status_code == 201
    data = response.get_json()
    assert_article_shape(data)
    assert data["revision"]["number"] == 2 and data["title"] == "Eczema in winter (updated)"
    assert data["slug"] == in_review.slug  # the slug never changes
    assert data["state"] == "in_review"


def test_save_revision_on_a_stale_base_is_409(api, cast, in_review):
    url = f"/articles/{in_review.id}/revisions"
    assert api(cast["writer"], "POST", url, json={"title": "A", "body": "B", "base_revision": 1}).status_code == 201
    before = event_count()
    error = assert_error(api(cast["writer"], "POST", url, json={"title": "C", "body": "D", "base_revision": 1}),
                         409, "stale_revision")
    assert "2" in error["message"]
    assert event_count() == before
    assert api(cast["writer"], "GET", f"/articles/{in_review.id}").get_json()["revision"]["title"] == "A"


@pytest.mark.parametrize("who, status", [("writer2", 404), ("editor", 403), ("rev", 403), ("admin", 403)])
def test_save_revision_only_by_its_writer(api, cast, in_review, who, status):
    response = api(cast[who], "POST", f"/articles/{in_review.id}/revisions",
                   json={"title": "T", "body": "B", "base_revision": 1})
    assert_error(response, status, "not_found" if status == 404 else "forbidden")


@pytest.mark.parametrize("payload", [{"title": "T", "body": "B", "base_revision": "1"},
                                     {"title": "T", "body": "B"}, {"title": "T", "body": "B", "base_revision": 0},
                                     {"title": "T", "body": "B", "base_revision": True},
                                     {"title": "T", "body": "B", "base_revision": 1.5}])
def test_save_revision_bad_input_is_400(api, cast, in_review, payload):
    assert_error(api(cast["writer"], "POST", f"/articles/{in_review.id}/revisions", json=payload), 400,
                 "invalid_input")


def test_submit_and_double_submission(api, cast, db):
    article = make_article(cast["writer"], "draft")
    response = api(cast["writer"], "POST", f"/articles/{article.id}/submit")
    assert response.status_code == 200
    assert response.get_json()["state"] == "submitted"
    before = event_count()
    assert_error(api(cast["writer"], "POST", f"/articles/{article.id}/submit"), 409, "invalid_state")
    assert event_count() == before


def test_submit_with_an_active_reviewer_goes_in_review(api, cast, db):
    article = make_article(cast["writer"], "draft")
    reviews.assign_reviewer(cast["editor"], article, cast["rev"].id)
    db.session.commit()
    response = api(cast["writer"], "POST", f"/articles/{article.id}/submit", json={})
    assert response.status_code == 200 and response.get_json()["state"] == "in_review"


@pytest.mark.parametrize("who, status", [("writer2", 404), ("editor", 403), ("rev", 404)])
def test_submit_only_by_its_writer(api, cast, db, who, status):
    article = make_article(cast["writer"], "draft")
    assert_error(api(cast[who], "POST", f"/articles/{article.id}/submit"), status,
                 "not_found" if status == 404 else "forbidden")


# Assignments ----------------------------------------------------------------------------------

def test_assign_reviewer(api, cast, db):
    article = make_article(cast["writer"], "submitted")
    response = api(cast["editor"], "POST", f"/articles/{article.id}/assignments",
                   json={"reviewer_id": cast["rev"].id, "due_date": "2099-01-31"})
    assert response.status_code == 201
    data = response.get_json()
    assert {"id", "reviewer", "status", "due_date"} <= set(data)
    assert data["reviewer"] == {"id": cast["rev"].id, "name": "Dana Okafor"}
    assert data["status"] == "pending" and data["due_date"] == "2099-01-31"
    assert api(cast["editor"], "GET", f"/articles/{article.id}").get_json()["state"] == "in_review"


@pytest.mark.parametrize("who, status", [("writer", 403), ("rev", 404), ("admin", 403), ("writer2", 404)])
def test_assign_only_by_editors(api, cast, db, who, status):
    article = make_article(cast["writer"], "submitted")
    response = api(cast[who], "POST", f"/articles/{article.id}/assignments", json={"reviewer_id": cast["rev"].id})
    assert_error(response, status, "not_found" if status == 404 else "forbidden")


@pytest.mark.parametrize("who", ["expired", "writer"])
def test_assign_unavailable_reviewer_is_409(api, cast, db, who):
    article = make_article(cast["writer"], "submitted")
    before = event_count()
    response = api(cast["editor"], "POST", f"/articles/{article.id}/assignments", json={"reviewer_id": cast[who].id})
    # The article's own writer (not a reviewer at all) cannot be assigned either (PRODUCT.md: 409).
    assert_error(response, 409, "reviewer_unavailable")
    assert event_count() == before


@pytest.mark.parametrize("payload, status", [({"reviewer_id": "3"}, 400), ({}, 400), ({"reviewer_id": 0}, 400),
                                             ({"reviewer_id": 999999}, 400),
                                             ({"reviewer_id": 1, "due_date": "next week"}, 400),
                                             ({"reviewer_id": 1, "due_date": "2001-01-01"}, 400)])
def test_assign_bad_input(api, cast, db, payload, status):
    article = make_article(cast["writer"], "submitted")
    if payload.get("reviewer_id") == 1:
        payload = {**payload, "reviewer_id": cast["rev"].id}
    assert_error(api(cast["editor"], "POST", f"/articles/{article.id}/assignments", json=payload), status,
                 "invalid_input")


def test_assign_twice_is_409(api, cast, in_review):
    response = api(cast["editor"], "POST", f"/articles/{in_review.id}/assignments",
                   json={"reviewer_id": cast["rev"].id})
    assert_error(response, 409, "invalid_state")


def test_assign_to_unpublished_article_is_409(api, cast, db):
    from reviewflow.publishing import services as publishing

    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    publishing.unpublish_article(cast["editor"], article, "Recalled")
    db.session.commit()
    response = api(cast["editor"], "POST", f"/articles/{article.id}/assignments", json={"reviewer_id": cast["rev2"].id})
    assert_error(response, 409, "invalid_state")


def test_withdraw_assignment(api, cast, in_review):
    assignment = reviews.policy.active_assignment(cast["rev"], in_review)
    url = f"/articles/{in_review.id}/assignments/{assignment.id}"
    assert_error(api(cast["writer"], "DELETE", url), 403, "forbidden")
    response = api(cast["editor"], "DELETE", url)
    assert response.status_code == 200
    data = response.get_json()
    assert data["id"] == assignment.id and data["status"] == "withdrawn"
    assert data["reviewer"] == {"id": cast["rev"].id, "name": "Dana Okafor"}
    assert_error(api(cast["editor"], "DELETE", url), 409, "invalid_state")
    article = api(cast["editor"], "GET", f"/articles/{in_review.id}").get_json()
    assert article["state"] == "submitted" and article["assignments"] == []
    assert_error(api(cast["rev"], "GET", f"/articles/{in_review.id}"), 404, "not_found")


# Annotations --------------------------------------------------------------------------------------

def test_annotate_list_reply_resolve(api, cast, in_review):
    url = f"/articles/{in_review.id}/annotations"
    response = api(cast["rev"], "POST", url, json={"revision": 1, "quote": QUOTE, "comment": "Source?",
                                                    "blocking": True, "prefix": "", "suffix": " Moisturize"})
    assert response.status_code == 201
    ann = response.get_json()
    assert ann["status"] == "open" and ann["blocking"] is True and ann["quote"] == QUOTE and ann["revision"] == 1
    assert isinstance(ann["id"], int)

    listed = api(cast["writer"], "GET", url)
    assert listed.status_code == 200
    assert [a["id"] for a in listed.get_json()] == [ann["id"]]

    reply = api(cast["writer"], "POST", f"/annotations/{ann['id']}/replies", json={"comment": "Added AAD link."})
    assert reply.status_code == 201
    assert reply.get_json()["comment"] == "Added AAD link." and {"id"} <= set(reply.get_json())

    assert_error(api(cast["writer"], "POST", f"/annotations/{ann['id']}/resolve"), 403, "forbidden")  # blocking
    resolved = api(cast["rev"], "POST", f"/annotations/{ann['id']}/resolve")
    assert resolved.status_code == 200
    assert resolved.get_json()["id"] == ann["id"] and resolved.get_json()["status"] == "resolved"
    assert_error(api(cast["rev"], "POST", f"/annotations/{ann['id']}/resolve"), 409, "invalid_state")


@pytest.mark.parametrize("who, status", [("writer", 403), ("writer2", 404), ("editor", 403), ("rev2", 404),
                                         ("admin", 403)])
def test_annotate_only_by_assigned_reviewers(api, cast, in_review, who, status):
    before = event_count()
    response = api(cast[who], "POST", f"/articles/{in_review.id}/annotations",
                   json={"revision": 1, "quote": QUOTE, "comment": "x"})
    assert_error(response, status, "not_found" if status == 404 else "forbidden")
    assert event_count() == before


@pytest.mark.parametrize("payload, status, code", [
    ({"revision": 1, "quote": "Not in the text at all", "comment": "x"}, 400, "invalid_input"),
    ({"revision": 1, "quote": "", "comment": "x"}, 400, "invalid_input"),
    ({"revision": 1, "quote": QUOTE, "comment": ""}, 400, "invalid_input"),
    ({"revision": 1, "quote": QUOTE, "comment": "x", "blocking": "yes"}, 400, "invalid_input"),
    ({"revision": "1", "quote": QUOTE, "comment": "x"}, 400, "invalid_input"),
    ({"quote": QUOTE, "comment": "x"}, 400, "invalid_input"),
    ({"revision": 7, "quote": QUOTE, "comment": "x"}, 404, "not_found"),
])
def test_annotate_bad_input(api, cast, in_review, payload, status, code):
    assert_error(api(cast["rev"], "POST", f"/articles/{in_review.id}/annotations", json=payload), status, code)


@pytest.mark.parametrize("who", ["writer2", "rev2"])
def test_annotations_list_and_reply_are_for_staff(api, cast, in_review, who):
    ann = reviews.add_annotation(cast["rev"], in_review, 1, QUOTE, "Source?")
    from reviewflow.extensions import db

    db.session.commit()
    assert_error(api(cast[who], "GET", f"/articles/{in_review.id}/annotations"), 404, "not_found")
    assert_error(api(cast[who], "POST", f"/annotations/{ann.id}/replies", json={"comment": "hi"}), 404, "not_found")


@pytest.mark.parametrize("who, status", [("writer", 200), ("rev", 200), ("rev2", 200), ("editor", 403),
                                         ("writer2", 404)])
def test_resolve_a_suggestion(api, cast, in_review, who, status):
    """A suggestion: the writer or its author; another assigned reviewer too once the author is withdrawn."""
    from reviewflow.extensions import db

    reviews.assign_reviewer(cast["editor"], in_review, cast["rev2"].id)
    ann = reviews.add_annotation(cast["rev"], in_review, 1, QUOTE, "Source?")
    db.session.commit()
    if who == "rev2":
        assert_error(api(cast[who], "POST", f"/annotations/{ann.id}/resolve"), 403, "forbidden")
        reviews.withdraw_assignment(cast["editor"], in_review, reviews.policy.active_assignment(cast["rev"], in_review))
        db.session.commit()
    response = api(cast[who], "POST", f"/annotations/{ann.id}/resolve")
    if status == 200:
        assert response.status_code == 200 and response.get_json()["status"] == "resolved"
    else:
        assert_error(response, status, "not_found" if status == 404 else "forbidden")


@pytest.mark.parametrize("who, status", [("rev", 200), ("writer", 403), ("rev2", 403), ("editor", 403),
                                         ("writer2", 404)])
def test_resolve_a_blocking_annotation_only_by_its_reviewer(api, cast, in_review, who, status):
    """A blocking annotation: only a reviewer assigned to the article, its author while assigned."""
    from reviewflow.extensions import db

    reviews.assign_reviewer(cast["editor"], in_review, cast["rev2"].id)
    ann = reviews.add_annotation(cast["rev"], in_review, 1, QUOTE, "Source?", blocking=True)
    db.session.commit()
    response = api(cast[who], "POST", f"/annotations/{ann.id}/resolve")
    if status == 200:
        assert response.status_code == 200 and response.get_json()["status"] == "resolved"
    else:
        assert_error(response, status, "not_found" if status == 404 else "forbidden")
        assert db.session.get(type(ann), ann.id).status == "open"


def test_blocking_annotation_of_a_withdrawn_reviewer(api, cast, in_review, db):
    """Once its author is withdrawn, another assigned reviewer resolves it; the withdrawn author cannot."""
    reviews.assign_reviewer(cast["editor"], in_review, cast["rev2"].id)
    ann = reviews.add_annotation(cast["rev"], in_review, 1, QUOTE, "Source?", blocking=True)
    reviews.withdraw_assignment(cast["editor"], in_review, reviews.policy.active_assignment(cast["rev"], in_review))
    db.session.commit()
    assert_error(api(cast["rev"], "POST", f"/annotations/{ann.id}/resolve"), 404, "not_found")
    assert_error(api(cast["writer"], "POST", f"/annotations/{ann.id}/resolve"), 403, "forbidden")
    response = api(cast["rev2"], "POST", f"/annotations/{ann.id}/resolve")
    assert response.status_code == 200 and response.get_json()["status"] == "resolved"


def test_reply_bad_input(api, cast, in_review):
    ann = reviews.add_annotation(cast["rev"], in_review, 1, QUOTE, "Source?")
    from reviewflow.extensions import db

    db.session.commit()
    for payload in ({}, {"comment": ""}, {"comment": 3}):
        assert_error(api(cast["writer"], "POST", f"/annotations/{ann.id}/replies", json=payload), 400,
                     "invalid_input")


# Decisions -----------------------------------------------------------------------------------------

def test_approve_signature_shape(api, cast, in_review):
    response = api(cast["rev"], "POST", f"/articles/{in_review.id}/decisions",
                   json={"revision": 1, "decision": "approve", "password": PASSWORD, "comment": "Accurate.",
                         "checklist": CHECKLIST})
    assert response.status_code == 201
    data = response.get_json()
    assert {"decision", "revision", "content_hash", "signed_at", "meaning", "signer"} <= set(data)
    assert data["decision"] == "approve" and data["revision"] == 1
    assert data["content_hash"] == in_review.revision.content_hash
    assert data["signed_at"].endswith("Z") or data["signed_at"].endswith("+00:00")
    assert "approve" in data["meaning"]
    assert data["signer"] == {**data["signer"], "id": cast["rev"].id, "name": "Dana Okafor",
                              "credentials": "M.D., Ph.D."}
    assert PASSWORD not in response.get_data(as_text=True)
    assert api(cast["writer"], "GET", f"/articles/{in_review.id}").get_json()["state"] == "approved"


def test_double_approval_is_refused(api, cast, in_review):
    body = {"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST}
    assert api(cast["rev"], "POST", f"/articles/{in_review.id}/decisions", json=body).status_code == 201
    before = event_count()
    assert_error(api(cast["rev"], "POST", f"/articles/{in_review.id}/decisions", json=body), 409, "invalid_state")
    assert event_count() == before


def test_wrong_password_is_401_bad_password(api, cast, in_review):
    before = event_count()
    response = api(cast["rev"], "POST", f"/articles/{in_review.id}/decisions",
                   json={"revision": 1, "decision": "approve", "password": "not-my-password", "checklist": CHECKLIST})
    assert_error(response, 401, "bad_password")
    assert event_count() == before + 1  # the failed attempt is on record, and nothing else
    assert events_after(before)[0].action == "signature.failed"
    assert api(cast["rev"], "GET", f"/articles/{in_review.id}").get_json()["state"] == "in_review"


def test_decision_on_a_stale_revision_is_409(api, cast, in_review):
    articles.save_revision(cast["writer"], in_review, in_review.title, BODY + "\nx\n", 1, "Edit")
    from reviewflow.extensions import db

    db.session.commit()
    response = api(cast["rev"], "POST", f"/articles/{in_review.id}/decisions",
                   json={"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST})
    assert_error(response, 409, "stale_revision")


def test_approval_with_a_blocking_annotation_open_is_409(api, cast, in_review):
    api(cast["rev"], "POST", f"/articles/{in_review.id}/annotations",
        json={"revision": 1, "quote": QUOTE, "comment": "Source?", "blocking": True})
    response = api(cast["rev"], "POST", f"/articles/{in_review.id}/decisions",
                   json={"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST})
    assert_error(response, 409, "invalid_state")


def test_request_changes_needs_a_comment(api, cast, in_review):
    url = f"/articles/{in_review.id}/decisions"
    body = {"revision": 1, "decision": "request_changes", "password": PASSWORD}
    assert_error(api(cast["rev"], "POST", url, json=body), 400, "invalid_input")
    response = api(cast["rev"], "POST", url, json={**body, "comment": "Cite the 2024 guideline."})
    assert response.status_code == 201 and response.get_json()["decision"] == "request_changes"
    assert api(cast["writer"], "GET", f"/articles/{in_review.id}").get_json()["state"] == "changes_requested"


def test_expired_licence_cannot_sign(api, cast, db, in_review):
    from reviewflow.auth import services as accounts

    profile = {k: getattr(cast["rev"].profile, k) for k in accounts.PROFILE_FIELDS}
    accounts.save_profile(cast["admin"], cast["rev"], {**profile, "license_expires": "2021-01-01"})
    db.session.commit()
    verify(cast["rev"])
    response = api(cast["rev"], "POST", f"/articles/{in_review.id}/decisions",
                   json={"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST})
    assert "expired" in assert_error(response, 409, "reviewer_unavailable")["message"]


@pytest.mark.parametrize("who, status", [("writer", 403), ("rev2", 404), ("editor", 403), ("admin", 403)])
def test_decisions_only_by_assigned_reviewers(api, cast, in_review, who, status):
    response = api(cast[who], "POST", f"/articles/{in_review.id}/decisions",
                   json={"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST})
    assert_error(response, status, "not_found" if status == 404 else "forbidden")


@pytest.mark.parametrize("payload", [{"revision": 1, "decision": "maybe", "password": PASSWORD},
                                     {"revision": 1, "decision": "approve"},
                                     {"revision": "1", "decision": "approve", "password": PASSWORD,
                                      "checklist": CHECKLIST},
                                     {"revision": 1, "decision": "approve", "password": 12345678}])
def test_decision_bad_input_is_400(api, cast, in_review, payload):
    assert_error(api(cast["rev"], "POST", f"/articles/{in_review.id}/decisions", json=payload), 400, "invalid_input")


def test_decision_on_a_draft_is_409(api, cast, db):
    """An assigned reviewer has a part in deciding, so a draft refuses with 409; an unassigned one cannot see it."""
    article = make_article(cast["writer"], "draft")
    assert_error(api(cast["rev"], "POST", f"/articles/{article.id}/decisions",
                     json={"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST}),
                 404, "not_found")
    reviews.assign_reviewer(cast["editor"], article, cast["rev"].id)
    db.session.commit()
    response = api(cast["rev"], "POST", f"/articles/{article.id}/decisions",
                   json={"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST})
    assert_error(response, 409, "invalid_state")


# Publishing ---------------------------------------------------------------------------------------

def test_publish_unpublish_and_public_record(api, cast, client, db):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    response = api(cast["editor"], "POST", f"/articles/{article.id}/publish", json={"revision": 1})
    assert response.status_code == 201
    data = response.get_json()
    assert {"version", "revision", "published_at", "url", "reviewed_by"} <= set(data)
    assert data["version"] == 1 and data["revision"] == 1
    assert data["url"].endswith(f"/articles/{article.slug}")
    assert [(r["name"], r["credentials"]) for r in data["reviewed_by"]] == [("Dana Okafor", "M.D., Ph.D.")]
    assert all(r["reviewed_at"] for r in data["reviewed_by"])

    art = api(cast["writer"], "GET", f"/articles/{article.id}").get_json()
    assert art["state"] == "published"
    assert art["published_version"]["version"] == 1 and art["published_version"]["revision"] == 1

    public = client.get(f"/api/v1/published/{article.slug}")  # no token: public
    assert public.status_code == 200
    pub = public.get_json()
    assert {"title", "slug", "body_html", "written_by", "reviewed_by", "first_published_at", "published_at",
            "last_reviewed", "versions"} <= set(pub)
    assert pub["title"] == "Eczema in winter" and pub["slug"] == article.slug and pub["written_by"] == "Wren Alder"
    assert [(r["name"], r["credentials"]) for r in pub["reviewed_by"]] == [("Dana Okafor", "M.D., Ph.D.")]
    assert pub["first_published_at"] == pub["published_at"] and pub["last_reviewed"]
    assert [(v["version"], v["revision"]) for v in pub["versions"]] == [(1, 1)]
    for v in pub["versions"]:
        assert {"version", "revision", "published_at", "written_by", "reviewed_by", "change_note"} <= set(v)
    assert "<script" not in pub["body_html"]

    assert_error(api(cast["editor"], "POST", f"/articles/{article.id}/unpublish", json={}), 400, "invalid_input")
    assert_error(api(cast["writer"], "POST", f"/articles/{article.id}/unpublish", json={"reason": "x"}), 403,
                 "forbidden")
    response = api(cast["editor"], "POST", f"/articles/{article.id}/unpublish", json={"reason": "Guidance changed."})
    assert response.status_code == 200
    assert response.get_json()["state"] == "unpublished" and response.get_json()["published_version"] is None
    assert_error(client.get(f"/api/v1/published/{article.slug}"), 410, "gone")
    assert_error(api(cast["editor"], "POST", f"/articles/{article.id}/unpublish", json={"reason": "again"}), 409,
                 "invalid_state")


def test_publish_refused_unless_that_revision_is_approved(api, cast, in_review):
    before = event_count()
    assert_error(api(cast["editor"], "POST", f"/articles/{in_review.id}/publish", json={"revision": 1}), 409,
                 "invalid_state")
    assert event_count() == before


def test_publish_a_revision_that_is_not_the_approved_one_is_409(api, cast, db):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    response = api(cast["editor"], "POST", f"/articles/{article.id}/publish", json={"revision": 2})
    # A revision that does not exist is not one the caller can see: 404 comes first (PRODUCT.md's order),
    # as on the publish page (tests/publishing/test_publish_views.py).
    assert_error(response, 404, "not_found")
    articles.save_revision(cast["writer"], article, article.title, BODY + "\nx\n", 1, "late edit")
    db.session.commit()
    assert_error(api(cast["editor"], "POST", f"/articles/{article.id}/publish", json={"revision": 1}), 409,
                 "invalid_state")


@pytest.mark.parametrize("who", ["writer", "rev", "admin"])
def test_publish_only_by_editors(api, cast, db, who):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    assert_error(api(cast[who], "POST", f"/articles/{article.id}/publish", json={"revision": 1}), 403, "forbidden")


def test_editor_cannot_publish_own_article(api, cast, db):
    writer_editor = make_user("writer", "editor")
    article = make_article(writer_editor, "approved", reviewer=cast["rev"], editor=cast["editor"])
    assert_error(api(writer_editor, "POST", f"/articles/{article.id}/publish", json={"revision": 1}), 403,
                 "forbidden")


def test_unpublish_a_draft_is_409(api, cast, db):
    article = make_article(cast["writer"], "draft")
    assert_error(api(cast["editor"], "POST", f"/articles/{article.id}/unpublish", json={"reason": "x"}), 409,
                 "invalid_state")


def test_published_unknown_or_unpublished_slug_is_404(client, cast, db):
    article = make_article(cast["writer"], "draft")
    assert_error(client.get(f"/api/v1/published/{article.slug}"), 404, "not_found")
    assert_error(client.get("/api/v1/published/no-such-article"), 404, "not_found")
    assert_error(client.get("/api/v1/published/" + "x" * 300), 404, "not_found")


# Audit -----------------------------------------------------------------------------------------------

def test_article_audit_oldest_first(api, cast, db):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    response = api(cast["writer"], "GET", f"/articles/{article.id}/audit")
    assert response.status_code == 200
    events = response.get_json()
    assert [e["action"] for e in events] == ["article.created", "article.submitted", "reviewer.assigned",
                                             "decision.signed", "article.published"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    for e in events:
        assert {"seq", "occurred_at", "actor", "action", "revision", "content_hash", "hash", "prev_hash"} <= set(e)
        assert e["article_id"] == article.id
    signed = events[3]
    assert signed["actor"]["name"] == "Dana Okafor, M.D., Ph.D." and signed["actor"]["role"] == "reviewer"
    assert signed["details"]["credentials"] == "M.D., Ph.D."
    assert signed["content_hash"] == article.revision.content_hash


@pytest.mark.parametrize("who, status", [("writer", 200), ("rev", 200), ("editor", 200), ("admin", 200),
                                         ("writer2", 404), ("rev2", 404)])
def test_article_audit_for_staff_only(api, cast, in_review, who, status):
    response = api(cast[who], "GET", f"/articles/{in_review.id}/audit")
    if status == 200:
        assert response.status_code == 200
    else:
        assert_error(response, 404, "not_found")


def test_refused_requests_change_nothing(api, cast, in_review):
    """A sample of refusals of every kind: no change, and no event but the failed signature's own record."""
    for who in ("writer2", "rev", "editor", "writer"):
        api(cast[who], "GET", "/me")  # tokens made (audit events) before counting
    before = event_count()
    api(cast["writer2"], "POST", f"/articles/{in_review.id}/revisions", json={"title": "T", "body": "B",
                                                                            "base_revision": 1})
    api(cast["rev"], "POST", f"/articles/{in_review.id}/decisions", json={"revision": 1, "decision": "approve",
                                                                         "password": "nope"})
    api(cast["editor"], "POST", f"/articles/{in_review.id}/publish", json={"revision": 1})
    api(cast["writer"], "POST", f"/articles/{in_review.id}/submit")
    assert [e.action for e in events_after(before)] == ["signature.failed"]
    data = api(cast["writer"], "GET", f"/articles/{in_review.id}").get_json()
    assert data["state"] == "in_review" and data["revision"]["number"] == 1


# OpenAPI --------------------------------------------------------------------------------------------

@pytest.fixture
def spec(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref:
        assert ref.startswith("#/components/schemas/"), ref
        return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def test_openapi_document_lists_every_operation(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"]
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    for method, path, _, _ in OPERATIONS:
        assert (method, path) in documented, (method, path)


def test_openapi_covers_every_api_route(app, spec):
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, path) in documented, (method, path)


def test_openapi_operations_have_parameters_bodies_and_errors(spec):
    bodies = {(m, p) for m, p, body, _ in OPERATIONS if body}
    public = {(m, p) for m, p, _, is_public in OPERATIONS if is_public}
    operation_ids = set()
    for path, ops in spec["paths"].items():
        names = re.findall(r"\{(\w+)\}", path)
        for method, op in ops.items():
            key = (method.upper(), path)
            assert op.get("operationId") and op["operationId"] not in operation_ids
            operation_ids.add(op["operationId"])
            params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
            assert set(params) == set(names), key
            for p in params.values():
                assert p["in"] == "path" and p["required"] is True and p["schema"].get("type"), key
            if key in bodies:
                content = op["requestBody"]["content"]["application/json"]
                schema = _resolve(spec, content["schema"])
                assert schema["type"] == "object" and "properties" in schema, key
            responses = op["responses"]
            assert any(code.startswith("2") for code in responses), key
            expected_errors = set()
            if key not in public:
                expected_errors.add("401")
            if key in bodies:
                expected_errors |= {"400", "413"}
            if names:
                expected_errors.add("404")
            assert expected_errors <= set(responses), (key, sorted(responses))
            for code, resp in responses.items():
                if code.startswith(("4", "5")):
                    error = _resolve(spec, resp["content"]["application/json"]["schema"])
                    assert _resolve(spec, error["properties"]["error"])["required"] == ["code", "message"]
            if key not in public:
                assert op.get("security"), key


def test_openapi_request_schemas_match_the_contract(spec):
    def body(method: str, path: str) -> dict:
        op = spec["paths"][path][method.lower()]
        return _resolve(spec, op["requestBody"]["content"]["application/json"]["schema"])

    cases = {("POST", "/articles"): {"title", "body"},
             ("POST", "/articles/{id}/revisions"): {"title", "body", "base_revision"},
             ("POST", "/articles/{id}/assignments"): {"reviewer_id"},
             ("POST", "/articles/{id}/annotations"): {"revision", "quote", "comment"},
             ("POST", "/annotations/{id}/replies"): {"comment"},
             ("POST", "/articles/{id}/decisions"): {"revision", "decision", "password"},
             ("POST", "/articles/{id}/publish"): {"revision"},
             ("POST", "/articles/{id}/unpublish"): {"reason"}}
    for (method, path), required in cases.items():
        schema = body(method, path)
        assert required <= set(schema.get("required", [])), (path, schema.get("required"))
    decision = body("POST", "/articles/{id}/decisions")["properties"]["decision"]
    assert set(decision.get("enum", [])) == {"approve", "request_changes"}
    annotation = body("POST", "/articles/{id}/annotations")["properties"]
    assert {"prefix", "suffix", "blocking"} <= set(annotation)


def test_openapi_is_served_without_a_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.is_json
