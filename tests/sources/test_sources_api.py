"""Sources and their checks through the JSON API, against PRODUCT.md ("Sources and their checks").

A reviewer's verdict follows a source while its footnote text is unchanged; approval waits for a
standing ``supports`` on every cited source (409 ``sources_unchecked``); a negative verdict blocks
until its checker changes it or a revision changes the source; a live source flagged as outdated
is asked for again by the re-review. Refusals come 404, 403, 409, then 400.
"""
from __future__ import annotations

import json

import pytest

from reviewflow.articles import services as articles
from reviewflow.extensions import db
from tests.api.test_api import _tokens_first, assert_error  # noqa: F401  (tokens issued before each test)
from tests.factories import CHECKLIST, PASSWORD, event_count, events_after, last_seq, make_article, make_user

CITED = """# Winter eczema

Moisturize within three minutes of bathing.[^aad] Lukewarm showers are gentler than hot baths.[^nhs]

Cotton layers irritate less than wool.[^aad]

[^nhs]: National Health Service, "Atopic eczema: treatment", reviewed 2024. https://www.nhs.uk/conditions/atopic-eczema/treatment/
[^aad]: American Academy of Dermatology, "Eczema types: atopic dermatitis self-care". doi:10.1000/aad.2023.17
"""


@pytest.fixture
def cited(db, cast):
    """An article citing two sources, in review by ``rev``."""
    return make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], body=CITED)


def check(api, user, article, key, verdict="supports", comment=None, revision=None):
    body = {"revision": revision or article.current_revision, "key": key, "verdict": verdict}
    if comment is not None:
        body["comment"] = comment
    return api(user, "POST", f"/articles/{article.id}/source-checks", body)


def approve(api, user, article):
    return api(user, "POST", f"/articles/{article.id}/decisions", {
        "revision": article.current_revision, "decision": "approve", "password": PASSWORD, "checklist": CHECKLIST})


def test_revision_lists_its_sources_in_order_of_first_citation(api, cast, cited):
    sources = api(cast["writer"], "GET", f"/articles/{cited.id}").get_json()["revision"]["sources"]
    assert [s["key"] for s in sources] == ["aad", "nhs"]
    assert sources[0]["url"] == "https://doi.org/10.1000/aad.2023.17" and sources[0]["doi"] == "10.1000/aad.2023.17"
    assert sources[1]["url"] == "https://www.nhs.uk/conditions/atopic-eczema/treatment/"
    assert sources[1]["text"].startswith("National Health Service")


def test_a_citation_without_an_address_has_a_null_url(api, cast):
    article = make_article(cast["writer"], "draft", body="Claim.[^a]\n\n[^a]: A leaflet from the clinic, 2023.\n")
    sources = api(cast["writer"], "GET", f"/articles/{article.id}").get_json()["revision"]["sources"]
    assert sources == [{"key": "a", "text": "A leaflet from the clinic, 2023.", "url": None, "doi": None}]


def test_a_check_is_recorded_with_its_checker_and_an_audit_event(api, cast, cited):
    seq = last_seq()
    response = check(api, cast["rev"], cited, "nhs")
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["key"] == "nhs" and data["verdict"] == "supports" and data["revision"] == cited.current_revision
    assert data["checked_by"] == {"id": cast["rev"].id, "name": "Dana Okafor"} and data["checked_at"]
    events = events_after(seq)
    assert [e.action for e in events] == ["source.checked"]
    details = json.loads(events[0].details)
    assert details["key"] == "nhs" and details["verdict"] == "supports" and events[0].article_id == cited.id
    assert details["source_text"].startswith("National Health Service")
    standing = api(cast["editor"], "GET", f"/articles/{cited.id}/source-checks").get_json()
    assert [(c["key"], c["verdict"]) for c in standing] == [("nhs", "supports")]


def test_approval_waits_for_every_source(api, cast, cited):
    error = assert_error(approve(api, cast["rev"], cited), 409, "sources_unchecked")
    assert "[^aad]" in error["message"] and "[^nhs]" in error["message"]
    assert check(api, cast["rev"], cited, "aad").status_code == 201
    error = assert_error(approve(api, cast["rev"], cited), 409, "sources_unchecked")
    assert "[^nhs]" in error["message"] and "[^aad]" not in error["message"]
    assert check(api, cast["rev"], cited, "nhs").status_code == 201
    assert approve(api, cast["rev"], cited).status_code == 201
    assert api(cast["rev"], "GET", f"/articles/{cited.id}").get_json()["state"] == "approved"


def test_a_negative_verdict_blocks_until_the_reviewer_changes_it(api, cast, cited):
    check(api, cast["rev"], cited, "aad")
    assert check(api, cast["rev"], cited, "nhs", "does_not_support",
                 "The page says nothing about water temperature.").status_code == 201
    error = assert_error(approve(api, cast["rev"], cited), 409, "sources_unchecked")
    assert "[^nhs]" in error["message"] and "other than supports" in error["message"]
    assert check(api, cast["rev"], cited, "nhs", "supports", "Found it in the bathing section.").status_code == 201
    assert approve(api, cast["rev"], cited).status_code == 201


def test_a_negative_verdict_is_lifted_by_a_revision_that_changes_the_source(api, cast, cited):
    check(api, cast["rev"], cited, "aad")
    check(api, cast["rev"], cited, "nhs", "outdated", "Replaced by the 2025 guidance.")
    body = CITED.replace('reviewed 2024. https://www.nhs.uk/conditions/atopic-eczema/treatment/',
                         'reviewed 2025. https://www.nhs.uk/conditions/atopic-eczema/')
    response = api(cast["writer"], "POST", f"/articles/{cited.id}/revisions",
                   {"title": "Winter eczema", "body": body, "base_revision": 1, "note": "Newer NHS page"})
    assert response.status_code == 201
    db.session.expire_all()
    # The unchanged source keeps its verdict; the changed one is asked again.
    standing = api(cast["rev"], "GET", f"/articles/{cited.id}/source-checks").get_json()
    assert [(c["key"], c["verdict"], c["revision"]) for c in standing] == [("aad", "supports", 1)]
    error = assert_error(approve(api, cast["rev"], cited), 409, "sources_unchecked")
    assert "[^nhs]" in error["message"] and "not yet checked" in error["message"]
    assert check(api, cast["rev"], cited, "nhs", revision=2).status_code == 201
    assert approve(api, cast["rev"], cited).status_code == 201


def test_a_verdict_of_a_withdrawn_reviewer_is_answered_by_another(api, cast, cited):
    check(api, cast["rev"], cited, "aad", "inaccessible", "The link gives a 404.")
    assignment = cited.id and api(cast["editor"], "GET", f"/articles/{cited.id}").get_json()["assignments"][0]
    assert api(cast["editor"], "POST", f"/articles/{cited.id}/assignments", {"reviewer_id": cast["rev2"].id}
               ).status_code == 201
    assert api(cast["editor"], "DELETE", f"/articles/{cited.id}/assignments/{assignment['id']}").status_code == 200
    # Still blocked: nobody assigned has answered the withdrawn reviewer's verdict yet.
    error = assert_error(approve(api, cast["rev2"], cited), 409, "sources_unchecked")
    assert "[^aad]" in error["message"]
    check(api, cast["rev2"], cited, "aad", "supports")
    check(api, cast["rev2"], cited, "nhs", "supports")
    assert approve(api, cast["rev2"], cited).status_code == 201


def test_refusals_come_in_the_order_of_the_contract(api, cast, cited):
    before = event_count()
    assert_error(check(api, cast["writer2"], cited, "nhs"), 404, "not_found")  # cannot see it
    assert_error(check(api, cast["rev2"], cited, "nhs"), 404, "not_found")  # not assigned: cannot see it
    for person in ("writer", "editor", "admin"):
        assert_error(check(api, cast[person], cited, "nhs"), 403, "forbidden")
        assert_error(check(api, cast[person], cited, "no-such-key"), 403, "forbidden")
    assert_error(check(api, cast["rev"], cited, "no-such-key"), 400, "invalid_input")
    assert_error(check(api, cast["rev"], cited, "nhs", "does_not_support"), 400, "invalid_input")  # no comment
    assert_error(check(api, cast["rev"], cited, "nhs", "maybe"), 400, "invalid_input")
    articles.save_revision(cast["writer"], cited, "Winter eczema", CITED + "\nMore.\n", 1)
    db.session.commit()
    assert_error(check(api, cast["rev"], cited, "nhs", revision=1), 409, "stale_revision")
    assert_error(check(api, cast["rev"], cited, "no-such-key", revision=1), 409, "stale_revision")
    assert event_count() == before + 1  # only the revision


def test_sources_are_checked_only_in_review(api, cast):
    article = make_article(cast["writer"], "draft", body=CITED)
    assert_error(check(api, cast["writer"], article, "nhs"), 403, "forbidden")
    assert_error(check(api, cast["editor"], article, "nhs"), 403, "forbidden")


def test_published_record_carries_who_checked_each_source(api, cast, cited, client):
    check(api, cast["rev"], cited, "aad")
    check(api, cast["rev"], cited, "nhs")
    assert approve(api, cast["rev"], cited).status_code == 201
    assert api(cast["editor"], "POST", f"/articles/{cited.id}/publish", {"revision": 1}).status_code == 201
    record = client.get(f"/api/v1/published/{cited.slug}").get_json()
    assert [s["key"] for s in record["sources"]] == ["aad", "nhs"]
    assert all(s["checked_by"] == "Dana Okafor" and s["checked_at"].endswith("Z") for s in record["sources"])
    assert record["sources"][1]["url"] == "https://www.nhs.uk/conditions/atopic-eczema/treatment/"


def test_a_flagged_live_source_is_asked_for_again_by_the_rereview(api, cast, cited):
    check(api, cast["rev"], cited, "aad")
    check(api, cast["rev"], cited, "nhs")
    approve(api, cast["rev"], cited)
    api(cast["editor"], "POST", f"/articles/{cited.id}/publish", {"revision": 1})
    outsider = make_user("writer")
    assert_error(api(outsider, "POST", f"/articles/{cited.id}/source-flags", {"key": "nhs", "comment": "Old."}),
                 404, "not_found")
    assert_error(api(cast["writer"], "POST", f"/articles/{cited.id}/source-flags",
                     {"key": "nhs", "comment": "Old."}), 403, "forbidden")
    response = api(cast["editor"], "POST", f"/articles/{cited.id}/source-flags",
                   {"key": "nhs", "comment": "NHS replaced this page in 2026."})
    assert response.status_code == 201 and response.get_json()["kind"] == "flag"
    assert api(cast["editor"], "GET", f"/articles/{cited.id}").get_json()["state"] == "published"
    # The re-review: the same reviewer, asked afresh; the flag blocks until a new verdict on that source.
    api(cast["editor"], "POST", f"/articles/{cited.id}/assignments", {"reviewer_id": cast["rev2"].id})
    error = assert_error(approve(api, cast["rev"], cited), 409, "sources_unchecked")
    assert "[^nhs]" in error["message"] and "[^aad]" not in error["message"]
    check(api, cast["rev"], cited, "nhs", "supports", "Checked the replacement page: still says the same.")
    assert approve(api, cast["rev"], cited).status_code == 201
    check(api, cast["rev2"], cited, "nhs")  # rev2 can check too, but one supporting verdict was enough
    assert approve(api, cast["rev2"], cited).status_code == 201
    record = api(None, "GET", f"/published/{cited.slug}").get_json()
    assert max(v["version"] for v in record["versions"]) == 2
    # The latest supporting verdict is the one readers see; the untouched source keeps its first check.
    assert [s["checked_by"] for s in record["sources"]] == ["Dana Okafor", "Ravi Senn"]


def test_a_withdrawn_reviewers_supports_stops_counting(api, cast, cited):
    """Found by mutation: the replacement reviewer checks again; the first reviewer's verdicts do not carry."""
    check(api, cast["rev"], cited, "aad")
    check(api, cast["rev"], cited, "nhs")
    first = api(cast["editor"], "GET", f"/articles/{cited.id}").get_json()["assignments"][0]
    api(cast["editor"], "POST", f"/articles/{cited.id}/assignments", {"reviewer_id": cast["rev2"].id})
    assert api(cast["editor"], "DELETE", f"/articles/{cited.id}/assignments/{first['id']}").status_code == 200
    error = assert_error(approve(api, cast["rev2"], cited), 409, "sources_unchecked")
    assert "[^aad]" in error["message"] and "[^nhs]" in error["message"]
