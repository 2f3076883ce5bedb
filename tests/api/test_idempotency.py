"""Safe retries: a POST sent again with the same ``Idempotency-Key`` gets the first answer and changes
nothing (``reviewflow.api.idempotency``), through the test client on the real database."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from reviewflow.api import idempotency
from reviewflow.api import serializers as out
from reviewflow.api.models import IdempotencyKey
from reviewflow.articles import services as articles
from reviewflow.articles.models import Article
from reviewflow.extensions import db, utcnow
from reviewflow.publishing.models import PublishedVersion
from reviewflow.reviews.models import Decision
from tests.api.test_api import assert_error
from tests.factories import BODY, CHECKLIST, PASSWORD, event_count, events_after, last_seq, make_article, token_for

KEY = "3f1c7a52-9d0e-4b7e-a1c2-5d6e7f809a1b"
NEW = {"title": "Sunscreen for children", "body": BODY}


@pytest.fixture
def post(app, cast):
    """``post(user, path, json, key=KEY)``: a POST to the API with the user's token and, unless ``key``
    is None, an ``Idempotency-Key``; each call through a fresh test client (as a retrying client
    would). Every cast member's token is issued first, so token events do not count as the test's."""
    tokens = {person.id: token_for(person) for person in cast.values()}

    def _post(user, path: str, json=None, key: str | None = KEY, method: str = "POST"):
        headers = {"Authorization": f"Bearer {tokens[user.id]}"}
        if key is not None:
            headers[idempotency.HEADER] = key
        return app.test_client().open("/api/v1" + path, method=method, json=json, headers=headers)

    return _post


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_retry_gets_the_first_answer_and_creates_one_article(post, cast):
    first = post(cast["writer"], "/articles", NEW)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    seq = last_seq()
    again = post(cast["writer"], "/articles", NEW)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data() and again.is_json
    assert count(Article) == 1 and count(IdempotencyKey) == 1
    assert events_after(seq) == []  # nothing was done again: not even an audit event


def test_without_a_key_each_post_is_new(post, cast):
    post(cast["writer"], "/articles", NEW, key=None)
    post(cast["writer"], "/articles", NEW, key=None)
    assert count(Article) == 2 and count(IdempotencyKey) == 0


@pytest.mark.parametrize("other", [
    pytest.param(lambda a: ("POST", "/articles", {**NEW, "title": "Another title"}), id="another body"),
    pytest.param(lambda a: ("POST", f"/articles/{a}/submit", {}), id="another path"),
])
def test_the_same_key_for_another_request_is_422_and_changes_nothing(post, cast, other):
    first = post(cast["writer"], "/articles", NEW)
    method, path, body = other(first.get_json()["id"])
    before = event_count()
    error = assert_error(post(cast["writer"], path, body, method=method), 422, "invalid_input")
    assert "Idempotency-Key" in error["message"] and "another request" in error["message"]
    assert event_count() == before and count(Article) == 1
    assert post(cast["writer"], "/articles", NEW).get_data() == first.get_data()  # the key still holds


def test_another_caller_with_the_same_key_is_independent(post, cast):
    mine = post(cast["writer"], "/articles", NEW)
    theirs = post(cast["writer2"], "/articles", NEW)
    assert mine.status_code == theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert theirs.get_json()["writer"]["name"] == "Tove Brandt"
    assert count(Article) == 2 and count(IdempotencyKey) == 2


def test_a_key_older_than_24_hours_is_new_again(post, cast, db):
    first = post(cast["writer"], "/articles", NEW)
    db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=24, seconds=1)))
    db.session.commit()
    again = post(cast["writer"], "/articles", {**NEW, "title": "Now another request"})
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.get_json()["id"] != first.get_json()["id"] and count(Article) == 2
    # the expired row made way for the new one
    row = db.session.scalar(select(IdempotencyKey))
    assert count(IdempotencyKey) == 1 and row.created_at > utcnow() - timedelta(minutes=1)


def test_a_key_just_under_24_hours_still_holds(post, cast, db):
    first = post(cast["writer"], "/articles", NEW)
    db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=23, minutes=59)))
    db.session.commit()
    assert post(cast["writer"], "/articles", NEW).get_data() == first.get_data() and count(Article) == 1


def test_purge_expired_deletes_only_old_keys(app, post, cast, db):
    post(cast["writer"], "/articles", NEW)
    post(cast["writer2"], "/articles", NEW)
    db.session.execute(update(IdempotencyKey).where(IdempotencyKey.user_id == cast["writer"].id)
                       .values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    result = app.test_cli_runner().invoke(idempotency.purge_command)
    assert result.exit_code == 0 and "1 expired Idempotency-Key answers deleted." in result.output
    assert db.session.scalars(select(IdempotencyKey.user_id)).all() == [cast["writer2"].id]
    assert idempotency.purge_expired() == 0


def test_a_retried_decision_and_publication_get_the_same_answer(post, cast, db):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    sign = {"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST}
    signed = post(cast["rev"], f"/articles/{article.id}/decisions", sign, key="sign-1")
    assert signed.status_code == 201
    seq = last_seq()
    again = post(cast["rev"], f"/articles/{article.id}/decisions", sign, key="sign-1")
    assert (again.status_code, again.get_data()) == (201, signed.get_data())
    assert count(Decision) == 1 and events_after(seq) == []

    published = post(cast["editor"], f"/articles/{article.id}/publish", {"revision": 1}, key="publish-1")
    assert published.status_code == 201 and published.get_json()["version"] == 1
    seq = last_seq()
    again = post(cast["editor"], f"/articles/{article.id}/publish", {"revision": 1}, key="publish-1")
    assert (again.status_code, again.get_data()) == (201, published.get_data())
    assert count(PublishedVersion) == 1 and events_after(seq) == []


@pytest.mark.parametrize("bad", ["", "x" * 201, "cl\u00e9", "tab\there", "\x7f"])
def test_an_invalid_key_is_400_and_changes_nothing(post, cast, bad):
    before = event_count()
    error = assert_error(post(cast["writer"], "/articles", NEW, key=bad), 400, "invalid_input")
    assert "Idempotency-Key" in error["message"]
    assert count(Article) == 0 and count(IdempotencyKey) == 0 and event_count() == before


@pytest.mark.parametrize("good", ["x", "x" * 200, "order 42: retry ~ #1"])
def test_a_key_of_1_to_200_printable_characters_is_taken(post, cast, good):
    assert post(cast["writer"], "/articles", NEW, key=good).status_code == 201
    assert post(cast["writer"], "/articles", NEW, key=good).headers["Idempotent-Replayed"] == "true"
    assert count(Article) == 1


def test_a_refusal_that_changed_nothing_is_not_stored_and_the_retry_is_answered_afresh(post, cast, db):
    """A 409 rolls everything back, key included: once the state allows it, the same request with the
    same key does the work."""
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    refused = post(cast["editor"], f"/articles/{article.id}/publish", {"revision": 1})
    assert_error(refused, 409, "invalid_state")
    assert count(IdempotencyKey) == 0
    sign = {"revision": 1, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST}
    assert post(cast["rev"], f"/articles/{article.id}/decisions", sign, key=None).status_code == 201
    retried = post(cast["editor"], f"/articles/{article.id}/publish", {"revision": 1})
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert count(PublishedVersion) == 1 and count(IdempotencyKey) == 1


def test_a_wrong_signing_password_is_stored_so_a_retry_counts_once(post, cast, db):
    """A wrong password is itself kept on record (``signature.failed``): its 401 is the stored answer, and
    the retry records no second failed attempt."""
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    wrong = {"revision": 1, "decision": "approve", "password": "not it", "checklist": CHECKLIST}
    seq = last_seq()
    first = post(cast["rev"], f"/articles/{article.id}/decisions", wrong)
    assert_error(first, 401, "bad_password")
    again = post(cast["rev"], f"/articles/{article.id}/decisions", wrong)
    assert (again.status_code, again.get_data()) == (401, first.get_data())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [e.action for e in events_after(seq)] == ["signature.failed"]
    assert count(Decision) == 0


def test_a_crash_leaves_neither_the_work_nor_the_key(post, cast, db, monkeypatch):
    """The endpoint's work and the key's row commit together: a failure after the work keeps neither,
    and the retry does the work once."""
    monkeypatch.setattr(out, "article_json", lambda article: 1 / 0)
    assert_error(post(cast["writer"], "/articles", NEW), 500, "internal_error")
    db.session.rollback()
    assert count(Article) == 0 and count(IdempotencyKey) == 0
    monkeypatch.undo()
    assert post(cast["writer"], "/articles", NEW).status_code == 201
    assert post(cast["writer"], "/articles", NEW).headers["Idempotent-Replayed"] == "true"
    assert count(Article) == 1


@pytest.mark.real_commits  # two requests in threads
def test_two_requests_with_the_same_key_at_once_do_the_work_once(app, post, cast, monkeypatch):
    """The second request looks the key up while the first is still working (and finds nothing), then
    waits on the key's unique index; when the first commits, it answers the first's answer."""
    create = articles.create_article
    inside, release, looked = threading.Event(), threading.Event(), threading.Event()
    calls = []

    def slow_create(*args, **kwargs):
        calls.append(threading.current_thread().name)
        inside.set()
        assert release.wait(10)
        return create(*args, **kwargs)

    live = idempotency._live

    def spy_live(user_id, key, now):
        row = live(user_id, key, now)
        if threading.current_thread().name == "second" and row is None:
            looked.set()
        return row

    token = token_for(cast["writer"])  # both threads use it
    monkeypatch.setattr(articles, "create_article", slow_create)
    monkeypatch.setattr(idempotency, "_live", spy_live)
    answers: dict[str, object] = {}

    def run(name):
        with app.app_context():  # a session of its own, as in another worker
            response = app.test_client().post("/api/v1/articles", json=NEW, headers={
                "Authorization": f"Bearer {token}", idempotency.HEADER: KEY})
            answers[name] = (response.status_code, response.get_data(), response.headers.get("Idempotent-Replayed"))

    first = threading.Thread(target=run, args=("first",), name="first")
    second = threading.Thread(target=run, args=("second",), name="second")
    first.start()
    assert inside.wait(10)
    second.start()
    assert looked.wait(10)  # the second found no answer yet: the first has not committed
    time.sleep(0.3)  # let it reach the insert that waits on the first
    release.set()
    first.join(20)
    second.join(20)
    assert answers["first"][0] == 201 and answers["first"][2] is None
    assert answers["second"] == (201, answers["first"][1], "true")
    assert calls == ["first"]  # the second never called the endpoint
    db.session.rollback()
    assert count(Article) == 1 and count(IdempotencyKey) == 1


def test_a_get_ignores_the_header(post, cast):
    response = post(cast["writer"], "/me", key="", method="GET")
    assert response.status_code == 200 and count(IdempotencyKey) == 0


# OpenAPI --------------------------------------------------------------------------------------------

def test_the_openapi_document_describes_the_header_and_its_answers(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    keyed = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            header = [p for p in op.get("parameters", []) if p["in"] == "header"]
            if method == "get" or not op["security"]:
                assert header == [], (method, path)
                continue
            keyed += 1
            assert [p["name"] for p in header] == ["Idempotency-Key"], (method, path)
            assert header[0]["required"] is False
            assert header[0]["schema"]["maxLength"] == 200 and header[0]["schema"]["minLength"] == 1
            responses = op["responses"]
            assert {"400", "409", "422"} <= set(responses), (method, path)
            assert "Idempotency-Key" in responses["422"]["description"]
            assert "Idempotency-Key" in responses["409"]["description"]
            success = next(code for code in responses if code.startswith("2"))
            assert "Idempotent-Replayed" in responses[success]["headers"]
    assert keyed >= 12
