"""Publishing services: exact approved revisions, immutable versions, re-review, unpublishing, lists, the cache."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from reviewflow import paging
from reviewflow.articles import services as articles
from reviewflow.articles import workflow
from reviewflow.audit.models import AuditEvent
from reviewflow.auth import services as accounts
from reviewflow.errors import Conflict, Forbidden, InvalidInput, NotFound
from reviewflow.public import pagecache
from reviewflow.public import queries as public_queries
from reviewflow.publishing import certificates
from reviewflow.publishing import services as publishing
from reviewflow.publishing.models import PublishedReview, PublishedVersion
from reviewflow.reviews import services as reviews
from tests.factories import BODY, CHECKLIST, PASSWORD, make_article

HOSTILE = """# Hostile

<script>alert('x')</script>

<img src=x onerror="alert(1)">

[click](javascript:alert(1)) and [upper](JAVASCRIPT:alert(2)) and [spaced]( javascript:alert(3))

![pixel](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+) [data](data:text/html,<script>alert(1)</script>)

<a href="javascript:alert(4)">raw link</a> <div><b>broken <i>nesting</div> <svg onload=alert(5)>

[fine](https://example.org/page)
"""


class _Elements(HTMLParser):
    """Every start tag with its attributes, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def unsafe_parts(html: str, allowed_scripts: int = 0) -> list[str]:
    """What in ``html`` could run code: script elements beyond the page's own, event handlers, script or data
    URLs, and elements outside the article allow-list (svg, iframe, object, embed, style)."""
    parser = _Elements()
    parser.feed(html)
    problems, scripts = [], 0
    for tag, attrs in parser.found:
        if tag == "script":
            scripts += 1
            if attrs.get("type") != "application/ld+json" and not attrs.get("src", "").startswith("/static/"):
                problems.append(f"script {attrs}")
        if tag in ("svg", "iframe", "object", "embed", "style", "base", "math"):
            problems.append(tag)
        for name, value in attrs.items():
            if name.startswith("on") or name == "style":
                problems.append(f"{tag} {name}")
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                scheme = re.sub(r"[\x00-\x20]", "", value).lower()
                if scheme.startswith(("javascript:", "data:", "vbscript:")):
                    problems.append(f"{tag} {name}={value}")
    if scripts > allowed_scripts:
        problems.append(f"{scripts} script elements")
    return problems


def _events(db, action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def _versions(db, article) -> list[PublishedVersion]:
    return publishing.versions_of(article.id)


def test_publish_copies_the_signed_record(db, cast):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    version = publishing.publish_revision(cast["editor"], article, article.current_revision, None)
    db.session.commit()
    assert (version.version, version.revision_number, version.kind) == (1, 1, "publish")
    assert version.content_hash == article.revision.content_hash
    assert version.change_note == "First published."
    assert (version.publisher_name, version.writer_name) == ("Eddie Marsh", "Wren Alder")
    assert article.state == "published" and article.live_version == 1 and article.rereview_due is not None
    [review] = version.reviews
    decision = reviews.approvals_behind(article, 1)[0]
    assert (review.name, review.credentials, review.specialty) == ("Dana Okafor", "M.D., Ph.D.", "Dermatology")
    assert review.decision_id == decision.id and review.reviewed_at == decision.signed_at
    assert review.decision_audit_seq == decision.audit_seq and version.audit_seq is not None
    assert version.last_reviewed_at == decision.signed_at
    assert _events(db, "article.published") == 1
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == version.audit_seq))
    assert event.action == "article.published" and event.content_hash == version.content_hash


@pytest.mark.parametrize("state", ["draft", "submitted", "in_review", "changes_requested"])
def test_only_an_approved_article_can_be_published(db, cast, state):
    article = make_article(cast["writer"], state, reviewer=cast["rev"], editor=cast["editor"])
    with pytest.raises(Conflict):
        publishing.publish_revision(cast["editor"], article, article.current_revision)
    db.session.rollback()
    assert _versions(db, article) == [] and _events(db, "article.published") == 0


def test_only_the_current_revision_can_be_published(db, cast):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    publishing.publish_revision(cast["editor"], article, 1)
    db.session.commit()
    articles.save_revision(cast["writer"], article, "Eczema in winter", BODY + "\nMore.\n", 1, "more")
    articles.submit_article(cast["writer"], article)
    reviews.sign_decision(cast["rev"], article, 2, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    with pytest.raises(Conflict) as refused:
        publishing.publish_revision(cast["editor"], article, 1)  # the older, already published revision
    assert refused.value.code == "stale_revision"
    db.session.rollback()
    with pytest.raises(NotFound):
        publishing.publish_revision(cast["editor"], article, 7)
    db.session.rollback()
    assert [v.version for v in _versions(db, article)] == [1]


def test_publishing_twice_is_refused(db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    with pytest.raises(Conflict):
        publishing.publish_revision(cast["editor"], article, article.current_revision)
    db.session.rollback()
    assert len(_versions(db, article)) == 1


@pytest.mark.parametrize("who", ["writer", "rev", "admin"])
def test_only_editors_publish(db, cast, who):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    with pytest.raises(Forbidden):
        publishing.publish_revision(cast[who], article, article.current_revision)
    db.session.rollback()
    assert _versions(db, article) == []


def test_an_editor_who_wrote_the_article_cannot_publish_it(db, cast):
    from tests.factories import make_user

    both = make_user("writer", "editor", name="Both Roles")
    article = make_article(both, "approved", reviewer=cast["rev"], editor=cast["editor"])
    with pytest.raises(Forbidden):
        publishing.publish_revision(both, article, article.current_revision)


def test_change_note_is_checked(db, cast):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    with pytest.raises(InvalidInput):
        publishing.publish_revision(cast["editor"], article, 1, "x" * 501)
    db.session.rollback()
    version = publishing.publish_revision(cast["editor"], article, 1, "  Reviewed for winter.  ")
    assert version.change_note == "Reviewed for winter."


def test_version_history_and_draft_isolation(db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    articles.save_revision(cast["writer"], article, "Eczema in winter", BODY + "\nHumidifiers help.\n", 1, "hum")
    db.session.commit()
    pa = public_queries.public_article(article.slug)
    assert article.state == "draft" and pa.version.version == 1 and "Humidifiers" not in pa.version.body_html
    articles.submit_article(cast["writer"], article)
    reviews.sign_decision(cast["rev"], article, 2, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    assert "Humidifiers" not in public_queries.public_article(article.slug).version.body_html  # approved, not published
    publishing.publish_revision(cast["editor"], article, 2, "Updated to add humidifiers.")
    db.session.commit()
    pa = public_queries.public_article(article.slug)
    assert [(v.version, v.revision_number) for v in pa.versions] == [(1, 1), (2, 2)]
    assert pa.version.version == 2 and "Humidifiers" in pa.version.body_html
    assert pa.first_published_at == pa.versions[0].published_at < pa.version.published_at
    assert pa.versions[1].change_note == "Updated to add humidifiers."
    assert "Humidifiers" not in pa.versions[0].body_html  # version 1 is unchanged


def test_rereview_without_text_change_makes_a_new_version(db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    first = publishing.live_version_of(article)
    reviews.assign_reviewer(cast["editor"], article, cast["rev2"].id)
    db.session.commit()
    # Starting a re-review puts every active assignment back to pending: the first approval does not count.
    assert article.state == "in_review" and public_queries.public_article(article.slug).version.version == 1
    assert sorted(a.status for a in workflow.active_assignments(article)) == ["pending", "pending"]
    reviews.sign_decision(cast["rev"], article, article.current_revision, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    assert article.state == "in_review" and article.live_version == 1  # one of two approvals: nothing yet
    assert _events(db, "article.rereviewed") == 0
    # The last approval of the unchanged live text writes the new version inside the decision.
    reviews.sign_decision(cast["rev2"], article, article.current_revision, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    second = publishing.live_version_of(article)
    assert (second.version, second.kind) == (2, "rereview")
    assert second.revision_number == first.revision_number and second.content_hash == first.content_hash
    assert second.body_html == first.body_html
    assert second.last_reviewed_at > first.last_reviewed_at
    assert sorted(r.name for r in second.reviews) == ["Dana Okafor", "Ravi Senn"]
    assert article.state == "published" and article.live_version == 2
    assert public_queries.public_article(article.slug).version.version == 2
    assert _events(db, "article.rereviewed") == 1
    with pytest.raises(Conflict):  # the re-review is over: nothing more to sign, nothing more written
        reviews.sign_decision(cast["rev"], article, article.current_revision, "approve", PASSWORD,
                              checklist=CHECKLIST)
    db.session.rollback()
    assert [v.version for v in publishing.versions_of(article.id)] == [1, 2]
    assert _events(db, "article.rereviewed") == 1


def test_unpublish_and_republish(db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    with pytest.raises(InvalidInput):
        publishing.unpublish_article(cast["editor"], article, "   ")
    db.session.rollback()
    with pytest.raises(Forbidden):
        publishing.unpublish_article(cast["writer"], article, "Because.")
    db.session.rollback()
    publishing.unpublish_article(cast["editor"], article, "Outdated advice.")
    db.session.commit()
    pa = public_queries.public_article(article.slug)
    assert pa.gone and article.state == "unpublished" and article.unpublish_reason == "Outdated advice."
    with pytest.raises(Conflict):
        publishing.unpublish_article(cast["editor"], article, "Again.")
    db.session.rollback()
    assert _events(db, "article.unpublished") == 1
    assert public_queries.published_list() == [] and public_queries.sitemap_entries() == []


def test_set_rereview_interval(db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    for bad in (0, 61, "x", None):
        with pytest.raises(InvalidInput):
            publishing.set_rereview_interval(cast["editor"], article, bad)
        db.session.rollback()
    with pytest.raises(Forbidden):
        publishing.set_rereview_interval(cast["writer"], article, 6)
    db.session.rollback()
    publishing.set_rereview_interval(cast["editor"], article, 6)
    db.session.commit()
    live = publishing.live_version_of(article)
    assert article.rereview_months == 6
    assert (article.rereview_due.year * 12 + article.rereview_due.month) - \
        (live.last_reviewed_at.year * 12 + live.last_reviewed_at.month) == 6
    assert _events(db, "rereview.scheduled") == 1


def test_hostile_markdown_is_harmless_in_body_html(db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"],
                           title="Hostile </script><script>alert(1)</script>", body=HOSTILE)
    html = publishing.live_version_of(article).body_html
    assert unsafe_parts(html) == []
    assert "<div" not in html and "<img" not in html  # raw HTML is text, not markup
    assert 'href="https://example.org/page"' in html and 'rel="noopener nofollow"' in html
    assert "&lt;script&gt;" in html  # shown as text, not run
    # the same sanitiser also refuses what Markdown itself would turn into a link or an image
    from reviewflow.articles.rendering import render_markdown

    crafted = render_markdown("[a](<javascript:alert(1)>) ![b](<data:image/png;base64,AAAA>) [c](vbscript:x)")
    assert unsafe_parts(crafted) == []


def test_credentials_stay_as_signed(db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    accounts.save_profile(cast["admin"], cast["rev"], {
        "credentials": "M.D., Ph.D., FAAD", "specialty": "Pediatric dermatology", "license_number": "NEW-1",
        "license_expires": "2099-01-01", "affiliation": "Harbor Hospital", "organization": "Other Network"})
    db.session.commit()
    [review] = publishing.live_version_of(article).reviews
    assert (review.credentials, review.specialty, review.affiliation) == ("M.D., Ph.D.", "Dermatology",
                                                                          "Lakeside Clinic")


def test_certificate_joins_the_signed_decisions(db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    cert = certificates.certificate(article, 1)
    [line] = cert.lines
    assert line.decision.id == line.review.decision_id and line.decision.license_expires.year == 2099
    assert cert.hash_matches and cert.revision.number == 1
    with pytest.raises(NotFound):
        certificates.certificate(article, 2)
    with pytest.raises(NotFound):
        certificates.certificate(article, "v1")


def test_published_list_keyset_topics_and_filters(db, cast):
    made = [make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"],
                         title=f"Article {i}", topic="Dermatology" if i % 2 else "Nutrition") for i in range(5)]
    first = public_queries.published_page(None, 2)
    assert [r.title for r in first.items] == ["Article 4", "Article 3"] and first.has_next and not first.has_prev
    key = public_queries.LIVE_KEYSET.key_of
    second = public_queries.published_page(paging.Cursor(key(first.items[-1])), 2)
    assert [r.title for r in second.items] == ["Article 2", "Article 1"] and second.has_next and second.has_prev
    back = public_queries.published_page(paging.Cursor(key(second.items[0]), backward=True), 2)
    assert [r.title for r in back.items] == ["Article 4", "Article 3"] and not back.has_prev
    assert public_queries.topics() == [("Dermatology", 2), ("Nutrition", 3)]
    assert [r.title for r in public_queries.published_list(topic="Dermatology")] == ["Article 3", "Article 1"]
    assert len(public_queries.published_list(reviewer_id=cast["rev"].id)) == 5
    assert public_queries.published_list(reviewer_id=cast["rev2"].id) == []
    assert len(public_queries.published_list(writer_id=cast["writer"].id)) == 5
    assert len(public_queries.published_list(exclude_article_id=made[0].id)) == 4
    assert [slug for slug, _ in public_queries.sitemap_entries()] == [a.slug for a in reversed(made)]


def test_summary_leaves_out_headings_and_cuts_at_a_word():
    from reviewflow.articles.rendering import render_markdown

    assert publishing.summary_of(render_markdown(BODY)).startswith("Cold air and low humidity")
    long = publishing.summary_of(render_markdown("word " * 200))
    assert long.endswith("word…") and len(long) <= 300


def test_ttl_cache_expires_with_its_clock():
    now = [100.0]
    cache = pagecache.TTLCache(1.0, size=2, clock=lambda: now[0])
    cache.put("a", 1)
    assert cache.get("a") == 1
    now[0] += 0.99
    assert cache.get("a") == 1
    now[0] += 0.02
    assert cache.get("a") is None
    cache.put("a", 1), cache.put("b", 2), cache.put("c", 3)
    assert cache.get("c") == 3 and len(cache.data) <= 2


def test_the_page_cache_empties_when_a_publish_commits(app, db, cast):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    cache = pagecache.public_cache()
    cache.put("page", "old")
    publishing.unpublish_article(cast["editor"], article, "Outdated.")
    assert cache.get("page") == "old"  # not yet committed
    db.session.rollback()
    assert cache.get("page") == "old"  # rolled back: nothing changed
    publishing.unpublish_article(cast["editor"], db.session.merge(article), "Outdated.")
    db.session.commit()
    assert cache.get("page") is None


def test_checklist_of_tolerates_bad_json(db):
    assert certificates.checklist_of(PublishedReview(checklist="not json")) == []
    assert certificates.checklist_of(PublishedReview(checklist=json.dumps(["a", 1]))) == ["a"]
