"""The editor's publishing pages: confirm and publish, unpublish, re-review interval, review certificate."""
from __future__ import annotations

import re
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from reviewflow.articles import services as articles
from reviewflow.audit.models import AuditEvent, AuditVerification
from reviewflow.extensions import db as _db
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from reviewflow.templating import human_date, when
from tests.factories import BODY, CHECKLIST, PASSWORD, make_article, make_user


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def events(action: str) -> int:
    return _db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


@pytest.fixture
def approved(db, cast):
    return make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])


def _approve_update(db, cast, article, extra="\nHumidifiers help.\n", note="Add humidifiers"):
    articles.save_revision(cast["writer"], article, "Eczema in winter", BODY + extra, article.current_revision, note)
    articles.submit_article(cast["writer"], article)
    reviews.sign_decision(cast["rev"], article, article.current_revision, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()


# Publish ------------------------------------------------------------------------------------------

def test_confirm_page_shows_what_will_be_published(client, login, cast, approved):
    login(cast["editor"])
    r = client.get(f"/work/articles/{approved.id}/publish")
    html = r.get_data(as_text=True)
    text = text_of(html)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    rev = approved.revision
    assert "Publish “Eczema in winter”, revision 1" in text
    assert rev.content_hash[:4] in text and rev.content_hash in html  # short form shown, full in the title
    assert "Dana Okafor, M.D., Ph.D." in text and "approved" in text and "UTC" in html
    assert "Short lukewarm showers" in text  # the rendered text
    assert "This will make the article public at /articles/eczema-in-winter" in text
    assert 'name="revision" type="hidden" value="1"' in html or re.search(r'type="hidden"[^>]*value="1"', html)
    assert "btn-danger" in html and ">Cancel</a>" in html and 'name="change_note"' in html


def test_publishing_through_the_page(client, login, cast, db, approved):
    login(cast["editor"])
    r = client.post(f"/work/articles/{approved.id}/publish", data={"revision": "1", "change_note": ""})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/articles/{approved.slug}")
    db.session.expire_all()
    [version] = publishing.versions_of(approved.id)
    assert (version.version, version.revision_number, version.change_note) == (1, 1, "First published.")
    assert events("article.published") == 1
    page = client.get(r.headers["Location"])
    assert page.status_code == 200
    assert "Published “Eczema in winter” as version 1" in text_of(page.get_data(as_text=True))


def test_an_update_needs_a_change_note_and_replaces_the_live_version(client, login, cast, db, approved):
    publishing.publish_revision(cast["editor"], approved, 1)
    db.session.commit()
    _approve_update(db, cast, approved, note="Add a source on bathing")
    login(cast["editor"])
    html = client.get(f"/work/articles/{approved.id}/publish").get_data(as_text=True)
    text = text_of(html)
    assert "This will replace the live version 1 (revision 1) at /articles/eczema-in-winter" in text
    assert "Updated to add a source on bathing." in html  # suggested note
    r = client.post(f"/work/articles/{approved.id}/publish", data={"revision": "2", "change_note": "  "})
    assert r.status_code == 400 and "Describe what changed" in r.get_data(as_text=True)
    assert len(publishing.versions_of(approved.id)) == 1
    r = client.post(f"/work/articles/{approved.id}/publish",
                    data={"revision": "2", "change_note": "Updated to add a source on bathing."})
    assert r.status_code == 303
    versions = publishing.versions_of(approved.id)
    assert [v.version for v in versions] == [1, 2] and versions[1].change_note == "Updated to add a source on bathing."


def test_publishing_a_stale_revision_is_refused(client, login, cast, db, approved):
    login(cast["editor"])
    client.get(f"/work/articles/{approved.id}/publish")
    r = client.post(f"/work/articles/{approved.id}/publish", data={"revision": "2", "change_note": ""})
    assert r.status_code == 404  # no revision 2
    publishing.publish_revision(cast["editor"], approved, 1)
    db.session.commit()
    _approve_update(db, cast, approved)
    r = client.post(f"/work/articles/{approved.id}/publish", data={"revision": "1", "change_note": "Old text."})
    assert r.status_code == 409 and len(publishing.versions_of(approved.id)) == 1
    r = client.post(f"/work/articles/{approved.id}/publish", data={"revision": "abc", "change_note": "x"})
    assert r.status_code == 400


@pytest.mark.parametrize("state", ["draft", "submitted", "in_review", "changes_requested", "published"])
def test_a_non_approved_article_gets_a_409_page(client, login, cast, db, state):
    article = make_article(cast["writer"], state, reviewer=cast["rev"], editor=cast["editor"])
    login(cast["editor"])
    for method in ("get", "post"):
        r = getattr(client, method)(f"/work/articles/{article.id}/publish",
                                    data={"revision": str(article.current_revision), "change_note": "x"})
        assert r.status_code == 409, method
        assert "approved" in text_of(r.get_data(as_text=True))
    assert events("article.published") == (1 if state == "published" else 0)


@pytest.mark.parametrize("who, status", [("writer", 403), ("rev", 403), ("admin", 403),
                                         ("rev2", 404), ("writer2", 404)])  # these two cannot see the article
def test_only_editors_may_open_or_post_the_publish_page(client, login, cast, db, approved, who, status):
    login(cast[who])
    assert client.get(f"/work/articles/{approved.id}/publish").status_code == status
    assert client.post(f"/work/articles/{approved.id}/publish", data={"revision": "1"}).status_code == status
    assert publishing.versions_of(approved.id) == [] and events("article.published") == 0


def test_an_editor_who_wrote_the_article_gets_403(client, login, cast, db):
    both = make_user("writer", "editor", name="Both Roles")
    article = make_article(both, "approved", reviewer=cast["rev"], editor=cast["editor"])
    login(both)
    assert client.get(f"/work/articles/{article.id}/publish").status_code == 403
    assert client.post(f"/work/articles/{article.id}/publish", data={"revision": "1"}).status_code == 403
    assert publishing.versions_of(article.id) == [] and events("article.published") == 0


def test_an_editor_assigned_to_review_the_article_gets_403(client, login, cast, db):
    """Four eyes: an editor with an active assignment on the article is one of its signers, never its publisher."""
    both = make_user("editor", "reviewer", name="Both Hats")
    article = make_article(cast["writer"], "approved", reviewer=both, editor=cast["editor"])
    login(both)
    assert client.get(f"/work/articles/{article.id}/publish").status_code == 403
    assert client.post(f"/work/articles/{article.id}/publish", data={"revision": "1"}).status_code == 403
    assert publishing.versions_of(article.id) == [] and events("article.published") == 0


def test_anonymous_visitors_are_sent_to_log_in(client, approved):
    for url in (f"/work/articles/{approved.id}/publish", f"/work/articles/{approved.id}/unpublish",
                f"/work/articles/{approved.id}/versions/1/certificate"):
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.post(f"/work/articles/{approved.id}/rereview", data={"months": "6"}).status_code == 303


def test_unknown_articles_are_404(client, login, cast):
    login(cast["editor"])
    for url in ("/work/articles/999/publish", "/work/articles/999/unpublish",
                "/work/articles/999/versions/1/certificate", "/work/articles/99999999999999/publish"):
        assert client.get(url).status_code == 404, url


# Unpublish ----------------------------------------------------------------------------------------

def test_unpublishing_through_the_page(client, login, cast, db):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    login(cast["editor"])
    r = client.get(f"/work/articles/{article.id}/unpublish")
    text = text_of(r.get_data(as_text=True))
    assert r.status_code == 200 and "Unpublish “Eczema in winter”" in text and "410" in text
    assert "btn-danger" in r.get_data(as_text=True)
    r = client.post(f"/work/articles/{article.id}/unpublish", data={"reason": ""})
    assert r.status_code == 400 and "Give the reason" in r.get_data(as_text=True)
    assert client.get(f"/articles/{article.slug}").status_code == 200
    r = client.post(f"/work/articles/{article.id}/unpublish", data={"reason": "Outdated dosage advice."})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/work/articles/{article.id}")
    assert events("article.unpublished") == 1
    client.get("/logout")
    gone = client.get(f"/articles/{article.slug}")
    assert gone.status_code == 410 and "Outdated dosage advice." in text_of(gone.get_data(as_text=True))
    assert client.get(f"/work/articles/{article.id}/unpublish").status_code == 409  # nothing left to unpublish
    assert client.post(f"/work/articles/{article.id}/unpublish", data={"reason": "Again"}).status_code == 409
    assert events("article.unpublished") == 1


@pytest.mark.parametrize("who", ["writer", "rev", "admin"])
def test_only_editors_unpublish(client, login, cast, db, who):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    login(cast[who])
    assert client.get(f"/work/articles/{article.id}/unpublish").status_code == 403
    assert client.post(f"/work/articles/{article.id}/unpublish", data={"reason": "No."}).status_code == 403
    assert events("article.unpublished") == 0


# Re-review interval -------------------------------------------------------------------------------

def test_setting_the_rereview_interval(client, login, cast, db):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    login(cast["editor"])
    r = client.post(f"/work/articles/{article.id}/rereview", data={"months": "6"}, follow_redirects=False)
    assert r.status_code == 303
    db.session.expire_all()
    assert publishing.versions_of(article.id)  # still live
    assert db.session.get(type(article), article.id).rereview_months == 6 and events("rereview.scheduled") == 1
    for bad in ("0", "61", "six", ""):
        r = client.post(f"/work/articles/{article.id}/rereview", data={"months": bad})
        assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(type(article), article.id).rereview_months == 6 and events("rereview.scheduled") == 1


@pytest.mark.parametrize("who", ["writer", "rev", "admin"])
def test_only_editors_set_the_rereview_interval(client, login, cast, db, who):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    login(cast[who])
    assert client.post(f"/work/articles/{article.id}/rereview", data={"months": "3"}).status_code == 403
    assert events("rereview.scheduled") == 0


# Certificate --------------------------------------------------------------------------------------

def test_certificate_prints_the_signed_record(app, client, login, cast, db):
    checklist = app.config["REVIEW_CHECKLIST"]
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    # a fresh approval with a ticked checklist, as the signing page records it
    articles.save_revision(cast["writer"], article, "Eczema in winter", BODY + "\nSee a clinician.\n", 1, "x")
    assert article.state == "in_review"  # approvals void, the same reviewer reviews again
    decision = reviews.sign_decision(cast["rev"], article, 2, "approve", PASSWORD, checklist=list(checklist))
    version = publishing.publish_revision(cast["editor"], article, 2)
    db.session.add(AuditVerification(ok=True, events=42, message=""))
    db.session.commit()
    login(cast["writer"])
    r = client.get(f"/work/articles/{article.id}/versions/1/certificate")
    html = r.get_data(as_text=True)
    text = text_of(html)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert "Review certificate" in text and "published version 1" in text
    assert version.content_hash in text and "Matches" in text
    assert "Dana Okafor, M.D., Ph.D." in text and "Credentials as signed M.D., Ph.D." in text
    assert f"Licence number at signing {decision.license_number}" in text
    assert f"Licence expiry at signing {human_date(decision.license_expires)} (valid on the day of signing)" in text
    assert when(decision.signed_at, ZoneInfo("UTC"), seconds=True) in text  # the certificate keeps UTC
    assert "I have medically reviewed this content and approve it as accurate." in text
    assert all(f"☑ {item}" in text for item in checklist) and "☐" not in text  # an approval attests every item
    assert f"#{version.audit_seq} (publication)" in text and f"#{decision.audit_seq} (signature)" in text
    assert "by Eddie Marsh" in text and "Chain verified" in text and "42 events" in text
    assert "Print / Save as PDF" in text
    assert client.get(f"/work/articles/{article.id}/versions/2/certificate").status_code == 404


@pytest.mark.parametrize("who,status", [("editor", 200), ("admin", 200), ("rev", 200), ("writer2", 404),
                                        ("rev2", 404)])
def test_certificate_is_for_the_article_staff(client, login, cast, db, who, status):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    login(cast[who])
    assert client.get(f"/work/articles/{article.id}/versions/1/certificate").status_code == status


def test_certificate_flags_a_broken_chain(client, login, cast, db):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    db.session.add(AuditVerification(ok=False, events=10, first_bad_seq=7, message="event 7 was edited"))
    db.session.commit()
    login(cast["editor"])
    text = text_of(client.get(f"/work/articles/{article.id}/versions/1/certificate").get_data(as_text=True))
    assert "Chain broken" in text and "#7" in text and "event 7 was edited" in text
