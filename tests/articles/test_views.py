"""The writer-facing and dashboard pages: each role, the refusals, stale saves, preview, diffs.

Assertions are on status codes, database rows and audit events, plus the few words a
person must see (a title in a list, a stale-revision message), never whole HTML pages.
"""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from reviewflow.articles import services as articles
from reviewflow.articles.models import Article, Revision
from reviewflow.audit.models import AuditEvent
from reviewflow.extensions import db as _db
from reviewflow.extensions import utcnow
from reviewflow.notifications import services as notices
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import ReviewAssignment
from tests.factories import BODY, make_article


@pytest.fixture
def as_user(client, login):
    """``as_user(user)`` signs out whoever is signed in, then signs ``user`` in."""

    def _as(user):
        client.post("/logout")
        return login(user)

    return _as


def html(response) -> str:
    return response.get_data(as_text=True)


def section(page: str, heading_id: str) -> str:
    """The part of a page from the heading with this id to the end of its section."""
    start = page.index(f'id="{heading_id}"')
    return page[start:page.index("</section>", start)]


def revisions(article) -> int:
    return _db.session.scalar(select(func.count()).select_from(Revision).where(Revision.article_id == article.id))


def events(action: str, article=None) -> int:
    stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if article is not None:
        stmt = stmt.where(AuditEvent.article_id == article.id)
    return _db.session.scalar(stmt)


# Anonymous visitors ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/dashboard", "/work/articles", "/work/articles/new", "/work/articles/1",
                                  "/work/articles/1/edit", "/work/articles/1/history", "/work/articles/1/diff",
                                  "/notifications"])
def test_anonymous_pages_redirect_to_login(client, cast, path):
    make_article(cast["writer"])
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("path", ["/work/preview", "/work/articles/1/submit", "/work/articles/1/edit",
                                  "/notifications"])
def test_anonymous_posts_redirect_to_login_and_change_nothing(client, cast, path):
    article = make_article(cast["writer"])
    response = client.post(path, data={"body": "x", "title": "x", "base_revision": "1"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login")
    assert _db.session.get(Article, article.id).state == "draft"
    assert revisions(article) == 1


# Dashboard --------------------------------------------------------------------------


def test_writer_dashboard_lists_own_drafts_and_other_articles(client, cast, as_user):
    w = cast["writer"]
    make_article(w, title="My winter draft")
    make_article(w, "changes_requested", reviewer=cast["rev"], editor=cast["editor"], title="Fix my sources")
    make_article(w, "in_review", reviewer=cast["rev"], editor=cast["editor"], title="Under review now")
    make_article(cast["writer2"], title="Somebody else's draft")
    as_user(w)
    page = html(client.get("/dashboard"))
    assert "Your drafts and requested changes" in page
    assert "My winter draft" in page and "Fix my sources" in page and "Under review now" in page
    assert "Somebody else" not in page
    assert page.index("Fix my sources") < page.index("My winter draft")  # changes requested first
    assert "Your reviews" not in page and "Waiting for a reviewer" not in page.split("</header>", 2)[2]


def test_writer_dashboard_empty_state_invites_a_first_article(client, cast, as_user):
    as_user(cast["writer"])
    page = html(client.get("/dashboard"))
    assert "No drafts or requested changes." in page
    assert 'href="/work/articles/new"' in page


def test_reviewer_dashboard_shows_queue_overdue_first_with_counters(client, cast, as_user):
    rev = cast["rev"]
    kw = {"reviewer": rev, "editor": cast["editor"]}
    later = make_article(cast["writer"], "in_review", title="Due next week", **kw)
    late = make_article(cast["writer"], "in_review", title="Already late", **kw)
    done = make_article(cast["writer"], "approved", title="Already approved", **kw)
    make_article(cast["writer"], "in_review", reviewer=cast["rev2"], editor=cast["editor"], title="Not mine")
    today = utcnow().date()
    for article, due in ((later, today + timedelta(days=7)), (late, today - timedelta(days=2))):
        a = _db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == article.id))
        a.due_date = due
    _db.session.commit()
    as_user(rev)
    page = html(client.get("/dashboard"))
    queue = section(page, "reviews-heading")
    assert queue.index("Already late") < queue.index("Due next week")
    assert "Overdue 1" in page and "To review 2" in page
    assert "Not mine" not in page and done.title not in queue
    assert f'href="/work/articles/{late.id}/review"' in queue


def test_reviewer_dashboard_empty_state(client, cast, as_user):
    as_user(cast["rev"])
    page = html(client.get("/dashboard"))
    assert "Nothing to review." in page
    assert "New assignments appear here and by email." in page


def test_editor_dashboard_lists_waiting_ready_and_rereviews(client, cast, as_user):
    kw = {"reviewer": cast["rev"], "editor": cast["editor"]}
    waiting = make_article(cast["writer"], "submitted", title="Needs a reviewer")
    ready = make_article(cast["writer"], "approved", title="Ready to go", **kw)
    live = make_article(cast["writer"], "published", title="Live and ageing", **kw)
    make_article(cast["writer"], title="Private draft")
    _db.session.get(Article, live.id).rereview_due = utcnow().date() + timedelta(days=5)
    _db.session.commit()
    as_user(cast["editor"])
    page = html(client.get("/dashboard"))
    assert f'href="/work/articles/{waiting.id}/assign"' in page
    assert f'href="/work/articles/{ready.id}/publish"' in page
    assert "Live and ageing" in page
    assert "Private draft" not in page
    assert "Re-reviews due 1" in page


def test_admin_dashboard_links_to_admin_pages(client, cast, as_user):
    as_user(cast["admin"])
    page = html(client.get("/dashboard"))
    assert 'href="/admin/users"' in page and 'href="/audit"' in page
    assert "Your reviews" not in page


def test_dashboard_shows_recent_notifications(client, cast, as_user):
    make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title="Eczema notes")
    as_user(cast["rev"])
    page = html(client.get("/dashboard"))
    assert "You were asked to review “Eczema notes”" in page
    assert "Unread notifications 1" in page


# Article index ------------------------------------------------------------------------


def test_index_shows_each_person_what_they_may_see(client, cast, as_user):
    kw = {"reviewer": cast["rev"], "editor": cast["editor"]}
    mine = make_article(cast["writer"], title="Wren's draft")
    reviewed = make_article(cast["writer2"], "in_review", title="Tove's piece in review", **kw)
    other = make_article(cast["writer2"], title="Tove's private draft")
    expectations = {
        "writer": {mine.title},
        "rev": {reviewed.title},
        "rev2": set(),
        "editor": {mine.title, reviewed.title, other.title},
        "admin": {mine.title, reviewed.title, other.title},
    }
    for who, titles in expectations.items():
        as_user(cast[who])
        response = client.get("/work/articles")
        assert response.status_code == 200
        page = html(response).replace("&#39;", "'")
        for article in (mine, reviewed, other):
            assert (article.title in page) == (article.title in titles), (who, article.title)


def test_index_filters_by_state_topic_scope_and_title(client, cast, as_user):
    w = cast["writer"]
    make_article(w, title="Acne in teens", topic="Dermatology")
    make_article(w, "submitted", title="Statins explained", topic="Cardiology")
    make_article(cast["writer2"], "submitted", title="Other statins piece", topic="Cardiology")
    as_user(cast["editor"])
    assert "Acne in teens" not in html(client.get("/work/articles?state=submitted"))
    page = html(client.get("/work/articles?topic=Cardiology&q=STATINS"))
    assert "Statins explained" in page and "Other statins piece" in page and "Acne" not in page
    page = html(client.get("/work/articles?state=draft&state=submitted&q=acne"))
    assert "Acne in teens" in page and "Statins" not in page
    assert "No article matches these filters." in html(client.get("/work/articles?q=nothing-like-this"))
    assert client.get("/work/articles?state=bogus&before=abc").status_code == 200
    as_user(w)
    page = html(client.get("/work/articles?scope=mine&topic=Cardiology"))
    assert "Statins explained" in page and "Other statins piece" not in page


def link(page: str, rel: str) -> str | None:
    """The href of the page's ``rel="next"`` or ``rel="prev"`` link, if it has one."""
    found = re.search(rf'href="([^"]*)" rel="{rel}"', page)
    return unescape(found[1]) if found else None


def follow(client, path: str, names: str) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """Click "Next" from ``path`` to the last page, then "Previous" back to the first. Returns the
    names (matched by the regex ``names``) on each page going forward and going back, and every
    link followed."""
    def visit(url: str) -> str:
        response = client.get(url)
        assert response.status_code == 200, url
        return html(response)

    pages, links = [visit(path)], []
    while (url := link(pages[-1], "next")) is not None:
        links.append(url)
        pages.append(visit(url))
    back = [pages[-1]]
    while (url := link(back[-1], "prev")) is not None:
        links.append(url)
        back.append(visit(url))
    return [re.findall(names, p) for p in pages], [re.findall(names, p) for p in back], links


def test_index_paginates_25_a_page_newest_first(client, cast, as_user):
    for n in range(27):
        articles.create_article(cast["writer"], f"Piece number {n:02d}", BODY, "Dermatology")
        _db.session.flush()
    _db.session.commit()
    as_user(cast["writer"])
    first = html(client.get("/work/articles"))
    assert "Piece number 26" in first and "Piece number 02" in first and "Piece number 01" not in first
    assert "Showing 25 of 27 articles" in first and 'rel="next"' in first and 'rel="prev"' not in first
    second = html(client.get(link(first, "next")))
    assert "Piece number 01" in second and "Piece number 00" in second and "Piece number 26" not in second
    assert 'rel="prev"' in second and 'rel="next"' not in second and "page=" not in first + second


def test_index_pages_through_a_filtered_list_and_back_with_ties(app, client, cast, as_user):
    app.config["PER_PAGE"] = 3
    made = [make_article(cast["writer"], "submitted" if n % 3 else "draft", title=f"Sleep {n:02d}",
                         topic="Sleep" if n % 4 else "Dermatology") for n in range(14)]
    when = utcnow().replace(microsecond=0) - timedelta(days=1)
    for n, article in enumerate(made):  # four distinct times, so most rows tie with others on updated_at
        _db.session.get(Article, article.id).updated_at = when + timedelta(minutes=n % 4)
    _db.session.commit()
    shown = [a for a in _db.session.scalars(select(Article)) if a.topic == "Sleep" and a.state == "submitted"]
    expected = [a.title for a in sorted(shown, key=lambda a: (a.updated_at, a.id), reverse=True)]
    assert len(expected) == 7
    as_user(cast["editor"])
    forward, back, links = follow(client, "/work/articles?topic=Sleep&state=submitted", r"Sleep \d\d")
    assert [len(p) for p in forward] == [3, 3, 1]
    assert [t for page in forward for t in page] == expected  # every row exactly once, in order
    assert back[::-1] == forward
    assert all("topic=Sleep" in url and "state=submitted" in url for url in links), links


@pytest.mark.parametrize("cursor", ["before=abc", "before=", "after=a1.2.3", "before=a01.2", "before=n5",
                                    "before=q739000.2", "before=a1.99999999999", "before=a5.1&after=a5.1",
                                    "before=a1.2&before=a3.4", "before=%00", "after=a%D9%A1.2", "page=2"])
def test_index_malformed_or_foreign_cursor_shows_the_first_page(app, client, cast, as_user, cursor):
    for n in range(4):
        make_article(cast["writer"], title=f"Piece {n}")
    as_user(cast["writer"])
    app.config["PER_PAGE"] = 2
    first = re.findall(r"Piece \d", html(client.get("/work/articles")))
    response = client.get(f"/work/articles?{cursor}")
    assert response.status_code == 200
    assert re.findall(r"Piece \d", html(response)) == first == ["Piece 3", "Piece 2"]


def test_index_page_past_the_end_shows_the_empty_state_with_a_link_to_the_first_page(client, cast, as_user):
    make_article(cast["writer"], title="Only one", topic="Sleep")
    as_user(cast["writer"])
    page = html(client.get("/work/articles?topic=Sleep&before=a0.1"))  # older than anything: nothing there
    assert "There is nothing on this page." in page and "The list has 1 article." in page
    assert 'href="/work/articles?topic=Sleep">Go to the first page' in page and "Only one" not in page


# Writing ---------------------------------------------------------------------------------


def test_new_article_form_creates_a_draft(client, cast, as_user):
    as_user(cast["writer"])
    page = html(client.get("/work/articles/new"))
    assert 'data-preview-url="/work/preview"' in page and 'data-preview-target="preview"' in page
    assert 'id="preview"' in page and 'list="topic-options"' in page and "Dermatology" in page
    response = client.post("/work/articles/new", data={"title": "Sunburn basics", "topic": "Dermatology",
                                                       "body": BODY, "note": "First go"})
    article = _db.session.scalar(select(Article).where(Article.title == "Sunburn basics"))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/work/articles/{article.id}"
    assert article.state == "draft" and article.writer_id == cast["writer"].id and article.topic == "Dermatology"
    assert revisions(article) == 1
    assert events("article.created", article) == 1


def test_new_article_refuses_an_empty_title_and_keeps_the_text(client, cast, as_user):
    as_user(cast["writer"])
    response = client.post("/work/articles/new", data={"title": " ", "body": "Keep **this** text", "topic": ""})
    assert response.status_code == 400
    assert "Keep **this** text" in html(response)
    assert _db.session.scalar(select(func.count()).select_from(Article)) == 0


def test_new_article_preview_button_renders_without_saving(client, cast, as_user):
    as_user(cast["writer"])
    response = client.post("/work/articles/new", data={"title": "", "body": "Some **bold** claim", "action": "preview"})
    assert response.status_code == 200
    assert "<strong>bold</strong>" in html(response)
    assert _db.session.scalar(select(func.count()).select_from(Article)) == 0


@pytest.mark.parametrize("who", ["editor", "rev", "admin"])
def test_only_writers_start_articles(client, cast, as_user, who):
    as_user(cast[who])
    assert client.get("/work/articles/new").status_code == 403
    assert client.post("/work/articles/new", data={"title": "T", "body": "B"}).status_code == 403
    assert _db.session.scalar(select(func.count()).select_from(Article)) == 0


def test_edit_form_is_prefilled_and_saves_a_revision(client, cast, as_user):
    article = make_article(cast["writer"])
    as_user(cast["writer"])
    page = html(client.get(f"/work/articles/{article.id}/edit"))
    assert 'name="base_revision" type="hidden" value="1"' in page
    assert "Moisturize within three minutes" in page
    response = client.post(f"/work/articles/{article.id}/edit", data={
        "title": "Eczema in winter", "body": BODY.replace("three", "five"), "base_revision": "1", "note": "Timing"})
    assert response.status_code == 303
    assert revisions(article) == 2
    assert _db.session.get(Article, article.id).current_revision == 2
    assert events("revision.saved", article) == 1


def test_stale_save_shows_message_keeps_text_and_saves_nothing(client, cast, as_user):
    article = make_article(cast["writer"])
    articles.save_revision(cast["writer"], article, "Eczema in winter", BODY + "\nSaved elsewhere.\n", 1)
    _db.session.commit()
    as_user(cast["writer"])
    mine = BODY + "\nMy careful paragraph that must not be lost.\n"
    response = client.post(f"/work/articles/{article.id}/edit",
                           data={"title": "Eczema in winter", "body": mine, "base_revision": "1", "note": "Mine"})
    page = html(response)
    assert response.status_code == 409
    assert "Your changes are not saved yet." in page
    assert "Revision 2 was saved after the revision 1 you edited." in page
    assert "My careful paragraph that must not be lost." in page
    assert f'href="/work/articles/{article.id}/diff?a=1&amp;b=2"' in page
    assert 'name="base_revision" type="hidden" value="2"' in page
    assert revisions(article) == 2
    assert events("revision.saved", article) == 1


def test_edit_shows_open_annotations_and_flags_orphans(client, cast, as_user):
    w, rev = cast["writer"], cast["rev"]
    article = make_article(w, "in_review", reviewer=rev, editor=cast["editor"])
    reviews.add_annotation(rev, article, 1, "Wool and rough fabrics", "Cite a source.", blocking=True)
    reviews.add_annotation(rev, article, 1, "Short lukewarm showers", "Say how short.")
    _db.session.commit()
    articles.save_revision(w, article, article.title, BODY.replace("Wool and rough fabrics", "Synthetic fabrics"), 1)
    _db.session.commit()
    as_user(w)
    page = html(client.get(f"/work/articles/{article.id}/edit"))
    assert "Open annotations (2)" in page
    assert "Needs attention" in page and "Wool and rough fabrics" in page
    assert page.count("Needs attention") == 1
    assert "Say how short." in page


def test_another_writer_cannot_see_or_edit(client, cast, as_user):
    article = make_article(cast["writer"])
    as_user(cast["writer2"])
    # Someone who cannot see the article is told it does not exist, on every page and form.
    for path in ("", "/edit", "/history", "/diff?a=1&b=1"):
        response = client.get(f"/work/articles/{article.id}{path}")
        assert response.status_code == 404
        assert article.title not in html(response)
    response = client.post(f"/work/articles/{article.id}/edit",
                           data={"title": "Taken", "body": "x", "base_revision": "1"})
    assert response.status_code == 404
    assert client.post(f"/work/articles/{article.id}/submit").status_code == 404
    assert revisions(article) == 1 and _db.session.get(Article, article.id).state == "draft"


def test_editor_cannot_edit_but_can_read(client, cast, as_user):
    article = make_article(cast["writer"])
    as_user(cast["editor"])
    assert client.get(f"/work/articles/{article.id}").status_code == 200
    assert client.get(f"/work/articles/{article.id}/edit").status_code == 403


def test_missing_article_is_404(client, cast, as_user):
    as_user(cast["editor"])
    assert client.get("/work/articles/999999").status_code == 404
    assert client.get("/work/articles/99999999999999").status_code == 404
    assert client.get("/work/articles/abc").status_code == 404


# Preview ----------------------------------------------------------------------------------


def test_preview_renders_markdown_and_strips_script(client, cast, as_user):
    as_user(cast["rev"])
    response = client.post("/work/preview", data={
        "body": "# Title\n\nSome **bold** text.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))"})
    body = html(response)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "<strong>bold</strong>" in body and "<h2>Title</h2>" in body
    assert "<script" not in body and "&lt;script&gt;" in body  # shown as text, never run
    assert "href=\"javascript" not in body


def test_preview_refuses_a_body_over_the_limit(client, cast, as_user):
    as_user(cast["writer"])
    assert client.post("/work/preview", data={"body": "x" * (articles.BODY_MAX + 1)}).status_code == 400


# The article page, submission ------------------------------------------------------------


def test_detail_shows_revision_and_submit_button_to_its_writer(client, cast, as_user):
    article = make_article(cast["writer"])
    as_user(cast["writer"])
    page = html(client.get(f"/work/articles/{article.id}"))
    assert f'action="/work/articles/{article.id}/submit"' in page
    assert f'href="/work/articles/{article.id}/edit"' in page
    assert "Moisturize within three minutes" in page
    assert article.revision.content_hash[:4] in page
    assert f'href="/work/articles/{article.id}/assign"' not in page


def test_detail_for_editor_links_assign_and_publish(client, cast, as_user):
    kw = {"reviewer": cast["rev"], "editor": cast["editor"]}
    submitted = make_article(cast["writer"], "submitted", title="Submitted one")
    approved = make_article(cast["writer"], "approved", title="Approved one", **kw)
    as_user(cast["editor"])
    page = html(client.get(f"/work/articles/{submitted.id}"))
    assert f'href="/work/articles/{submitted.id}/assign"' in page
    assert "/submit" not in page and f'href="/work/articles/{submitted.id}/edit"' not in page
    page = html(client.get(f"/work/articles/{approved.id}"))
    assert f'href="/work/articles/{approved.id}/publish"' in page
    assert "Dana Okafor" in page and "M.D., Ph.D." in page
    assert "I have medically reviewed this content and approve it as accurate." in page


def test_detail_of_published_article_links_public_page_and_unpublish(client, cast, as_user):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    as_user(cast["editor"])
    page = html(client.get(f"/work/articles/{article.id}"))
    assert f'href="/articles/{article.slug}"' in page
    assert f'href="/work/articles/{article.id}/unpublish"' in page
    assert f'href="/work/articles/{article.id}/audit"' in page


def test_detail_for_reviewers_assigned_or_not(client, cast, as_user):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    as_user(cast["rev"])
    page = html(client.get(f"/work/articles/{article.id}"))
    assert f'href="/work/articles/{article.id}/review"' in page
    assert f'href="/work/articles/{article.id}/edit"' not in page
    as_user(cast["rev2"])  # not assigned: the article does not exist for them
    assert client.get(f"/work/articles/{article.id}").status_code == 404


def test_submit_then_double_submit_is_409(client, cast, as_user):
    article = make_article(cast["writer"])
    as_user(cast["writer"])
    response = client.post(f"/work/articles/{article.id}/submit", follow_redirects=True)
    assert response.status_code == 200
    assert "Submitted for review" in html(response)
    assert _db.session.get(Article, article.id).state == "submitted"
    again = client.post(f"/work/articles/{article.id}/submit")
    assert again.status_code == 409
    assert "this one is submitted" in html(again)
    assert events("article.submitted", article) == 1


def test_submit_with_reviewer_goes_in_review(client, cast, as_user):
    w = cast["writer"]
    article = make_article(w, "changes_requested", reviewer=cast["rev"], editor=cast["editor"])
    as_user(w)
    # The revision the changes were requested on cannot be submitted again as it is.
    assert client.post(f"/work/articles/{article.id}/submit").status_code == 409
    assert _db.session.get(Article, article.id).state == "changes_requested"
    articles.save_revision(w, article, article.title, BODY + "\nA source.\n", article.current_revision)
    _db.session.commit()
    assert client.post(f"/work/articles/{article.id}/submit").status_code == 303
    assert _db.session.get(Article, article.id).state == "in_review"


@pytest.mark.parametrize("who", ["editor", "rev", "admin"])
def test_only_the_writer_submits(client, cast, as_user, who):
    article = make_article(cast["writer"], "in_review" if who == "rev" else "draft", reviewer=cast["rev"],
                           editor=cast["editor"])
    before = _db.session.get(Article, article.id).state
    as_user(cast[who])  # staff who see the article but have no part in submitting it, whatever its state
    assert client.post(f"/work/articles/{article.id}/submit").status_code == 403
    assert _db.session.get(Article, article.id).state == before


# History and diff ---------------------------------------------------------------------------


@pytest.fixture
def revised(cast):
    article = make_article(cast["writer"])
    articles.save_revision(cast["writer"], article, "Eczema in cold weather",
                           BODY.replace("three minutes", "five minutes"), 1, "Timing fixed")
    _db.session.commit()
    return article


def test_history_lists_every_revision_with_compare_controls(client, cast, as_user, revised):
    as_user(cast["writer"])
    page = html(client.get(f"/work/articles/{revised.id}/history"))
    assert "Timing fixed" in page and "First draft" in page
    assert 'name="a" value="1"' in page and 'name="b" value="2"' in page
    assert f'href="/work/articles/{revised.id}/diff?a=1&amp;b=2"' in page


def test_diff_inline_and_side_by_side_mark_words(client, cast, as_user, revised):
    as_user(cast["writer"])
    page = html(client.get(f"/work/articles/{revised.id}/diff?a=1&b=2"))
    assert "<del>three</del>" in page and "<ins>five</ins>" in page
    assert "<del>winter</del>" in page and "<ins>cold weather</ins>" in page  # the title change
    assert "1 word added" in page and "1 word removed" in page
    side = html(client.get(f"/work/articles/{revised.id}/diff?a=1&b=2&view=side"))
    assert "<del>three</del>" in side and "<ins>five</ins>" in side
    assert "Revision 1" in side and "Revision 2" in side
    assert client.get(f"/work/articles/{revised.id}/diff").status_code == 200  # defaults: 1 -> 2


@pytest.mark.parametrize("query, status", [("a=9&b=2", 404), ("a=abc&b=2", 404), ("a=1&b=-1", 404),
                                           ("a=1&b=2&view=bogus", 400)])
def test_diff_bad_arguments(client, cast, as_user, revised, query, status):
    as_user(cast["writer"])
    assert client.get(f"/work/articles/{revised.id}/diff?{query}").status_code == status


# Notifications -----------------------------------------------------------------------------


def test_notifications_list_and_mark_all_read(client, cast, as_user):
    make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title="Eczema notes")
    as_user(cast["rev"])
    page = html(client.get("/notifications"))
    assert "You were asked to review “Eczema notes”" in page and "Mark all as read" in page
    response = client.post("/notifications")
    assert response.status_code == 303
    assert notices.unread_count(cast["rev"]) == 0
    assert "Mark all as read" not in html(client.get("/notifications"))


def test_notifications_empty_state(client, cast, as_user):
    as_user(cast["editor"])
    assert "No notifications yet." in html(client.get("/notifications"))



def test_notifications_page_forward_and_back(app, client, cast, as_user):
    for n in range(5):
        notices.notify(cast["writer"], f"Note {n}")
        notices.notify(cast["writer2"], f"Other {n}")
    _db.session.commit()
    app.config["PER_PAGE"] = 2
    as_user(cast["writer"])
    forward, back, _ = follow(client, "/notifications", r"(?:Note|Other) \d")
    assert forward == [["Note 4", "Note 3"], ["Note 2", "Note 1"], ["Note 0"]] and back[::-1] == forward
    for cursor in ("before=zzz", "after=a1.2", "before=n2147483648", "before=n07"):
        assert re.findall(r"Note \d", html(client.get(f"/notifications?{cursor}"))) == ["Note 4", "Note 3"]
    assert "There is nothing on this page." in html(client.get("/notifications?before=n1"))
    # Marking as read still works from any page, and comes back to the newest.
    response = client.post("/notifications?before=n1")
    assert response.status_code == 303 and response.headers["Location"] == "/notifications"
    assert notices.unread_count(cast["writer"]) == 0 and notices.unread_count(cast["writer2"]) == 5
