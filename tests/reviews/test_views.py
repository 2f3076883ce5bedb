"""The review pages: queue, workspace, annotations, signing, assignment and withdrawal, for every role.

Tests assert status codes, database rows and audit events, not whole pages.
"""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import event, func, select, update

from reviewflow import paging
from reviewflow.articles import services as articles
from reviewflow.articles.models import Article
from reviewflow.audit.models import AuditEvent
from reviewflow.auth.models import ReviewerProfile
from reviewflow.extensions import utcnow
from reviewflow.publishing.models import PublishedVersion
from reviewflow.reviews import queries as review_queries
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import Annotation, AnnotationReply, Decision, ReviewAssignment
from reviewflow.reviews.queries import highlight
from reviewflow.textrules import human_date
from tests.factories import PASSWORD, make_article, make_user

QUOTE = "Moisturize within three minutes of bathing."


@pytest.fixture(autouse=True)
def _placeholder_endpoints(app):
    """Pages of other domains that these pages link to, when they are not built yet in this checkout."""
    needed = ["articles.index", "articles.new", "articles.detail", "articles.edit", "articles.diff",
              "audit.log", "auth.admin_users", "public.index"]
    for endpoint in needed:
        if endpoint not in app.view_functions:
            blueprint, name = endpoint.split(".")
            rule = f"/_placeholder/{blueprint}/{name}" + ("/<int:id>" if name in ("detail", "edit", "diff") else "")
            app.add_url_rule(rule, endpoint, lambda **_: "placeholder")


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def events(db, action: str, article_id: int | None = None) -> int:
    where = [AuditEvent.action == action]
    if article_id is not None:
        where.append(AuditEvent.article_id == article_id)
    return count(db, AuditEvent, *where)


def checklist(app) -> list[str]:
    return list(app.config["REVIEW_CHECKLIST"])


@pytest.fixture
def in_review(cast):
    return make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])


def annotate(db, article, user, quote=QUOTE, blocking=False) -> Annotation:
    ann = reviews.add_annotation(user, article, article.current_revision, quote, "Cite a source.", blocking)
    db.session.commit()
    return ann


# Queue ------------------------------------------------------------------------------------------

def test_queue_lists_open_assignments_overdue_first(db, cast, login, client):
    people = {"reviewer": cast["rev"], "editor": cast["editor"]}
    soon = make_article(cast["writer"], "in_review", title="Sun protection", **people)
    late = make_article(cast["writer"], "in_review", title="Overdue one", **people)
    db.session.execute(update(ReviewAssignment).where(ReviewAssignment.article_id == soon.id)
                       .values(due_date=utcnow().date() + timedelta(days=2)))
    db.session.execute(update(ReviewAssignment).where(ReviewAssignment.article_id == late.id)
                       .values(due_date=utcnow().date() - timedelta(days=2)))
    db.session.commit()
    login(cast["rev"])
    page = client.get("/reviews")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index("Overdue one") < html.index("Sun protection")
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    late_on, soon_on = (human_date(utcnow().date() + timedelta(days=n)) for n in (-2, 2))
    assert f"Overdue · due {late_on} (2 days ago)" in text and f"Due soon · due {soon_on} (in 2 days)" in text


def test_queue_shows_completed_reviews_after_open_ones(db, cast, login, client):
    make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"], title="Signed already")
    login(cast["rev"])
    html = client.get("/reviews").get_data(as_text=True)
    assert "Nothing to review" in html
    assert "Recently completed" in html and "Signed already" in html


def test_queue_empty_state(cast, login, client):
    login(cast["rev2"])
    page = client.get("/reviews")
    assert page.status_code == 200
    assert "Nothing to review. New assignments appear here and by email." in page.get_data(as_text=True)


def _queue_titles(html: str) -> list[str]:
    """The titles in the "To review" section, in order."""
    start = html.index('id="open-heading"')
    return re.findall(r">(Queue \d+)</a>", html[start:html.index("</section>", start)])


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'href="([^"]*)" rel="{rel}"', html)
    return unescape(found[1]) if found else None


def _queue_with_dates(db, cast, offsets) -> list[str]:
    """One in-review assignment for rev per offset (days from today, None for no due date), in
    creation order; returns the titles in the order the queue must show them."""
    today, rows = utcnow().date(), []
    for n, offset in enumerate(offsets):
        article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"],
                               title=f"Queue {n}")
        due = None if offset is None else today + timedelta(days=offset)
        assignment = db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == article.id))
        assignment.due_date = due
        rows.append((due is None, due or today, assignment.id, article.title))
    db.session.commit()
    return [title for *_, title in sorted(rows)]


@pytest.mark.parametrize("per_page", [2, 3, 4])
def test_queue_pages_forward_and_back_with_no_due_date_last(app, db, cast, login, client, per_page):
    """Ties on the due date and undated rows on both sides of page edges: each row once, in order."""
    expected = _queue_with_dates(db, cast, [None, 5, -2, 5, None, 5, None, 1, None])
    assert expected[:2] == ["Queue 2", "Queue 7"] and expected[-4:] == ["Queue 0", "Queue 4", "Queue 6", "Queue 8"]
    app.config["PER_PAGE"] = per_page
    login(cast["rev"])
    pages, links = [client.get("/reviews").get_data(as_text=True)], []
    while (url := _link(pages[-1], "next")) is not None:
        links.append(url)
        pages.append(client.get(url).get_data(as_text=True))
    back = [pages[-1]]
    while (url := _link(back[-1], "prev")) is not None:
        links.append(url)
        back.append(client.get(url).get_data(as_text=True))
    forward = [_queue_titles(p) for p in pages]
    assert [t for page in forward for t in page] == expected  # every row exactly once, in order
    assert [len(p) for p in forward[:-1]] == [per_page] * (len(forward) - 1)
    assert [_queue_titles(p) for p in reversed(back)] == forward
    assert all(re.fullmatch(r"/reviews\?(after|before)=q\d+\.\d+", url) for url in links), links
    assert f"Showing {per_page} of 9 open reviews" in pages[0]


def test_queue_undated_cursors_page_among_undated_rows(db, cast):
    _queue_with_dates(db, cast, [None, None, 3, None])
    undated = [a.id for a in db.session.scalars(select(ReviewAssignment).where(ReviewAssignment.due_date.is_(None))
                                                .order_by(ReviewAssignment.id))]
    after_first = review_queries.review_queue(cast["rev"], paging.Cursor((0, undated[0])), 10)
    assert [a.id for a, _ in after_first.items] == undated[1:]
    before_last = paging.Cursor((0, undated[-1]), backward=True)
    near = review_queries.review_queue(cast["rev"], before_last, 2)
    assert [a.id for a, _ in near.items] == undated[:2] and near.has_prev and near.has_next
    whole = review_queries.review_queue(cast["rev"], before_last, 3)  # reaches back over the dated row
    assert [a.due_date is None for a, _ in whole.items] == [False, True, True] and not whole.has_prev


def test_queue_shows_recently_completed_on_the_first_page_only(app, db, cast, login, client):
    _queue_with_dates(db, cast, [1, 2, 3])
    make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"], title="Signed already")
    app.config["PER_PAGE"] = 2
    login(cast["rev"])
    first = client.get("/reviews").get_data(as_text=True)
    assert "Recently completed" in first and "Signed already" in first
    second = client.get(_link(first, "next")).get_data(as_text=True)
    assert _queue_titles(second) == ["Queue 2"] and "Recently completed" not in second
    assert "Recently completed" in client.get(_link(second, "prev")).get_data(as_text=True)


@pytest.mark.parametrize("cursor", ["after=zzz", "after=", "before=q1", "after=q1.2.3", "after=q01.2",
                                    "after=a1.2", "after=n5", "after=q3652060.1", "after=q1.2147483648",
                                    "after=q1.2&before=q1.2", "after=q-1.2", "page=2"])
def test_queue_malformed_or_foreign_cursor_shows_the_first_page(app, db, cast, login, client, cursor):
    _queue_with_dates(db, cast, [1, None, 2])
    app.config["PER_PAGE"] = 2
    login(cast["rev"])
    response = client.get(f"/reviews?{cursor}")
    assert response.status_code == 200
    assert _queue_titles(response.get_data(as_text=True)) == ["Queue 0", "Queue 2"]


def test_queue_page_past_the_end_shows_an_empty_state_with_a_link_to_the_first_page(db, cast, login, client):
    _queue_with_dates(db, cast, [1])
    login(cast["rev"])
    html = client.get("/reviews?after=q0.2147483647").get_data(as_text=True)  # after the last undated row
    assert "Nothing on this page" in html and "You have 1 open review." in html
    assert 'href="/reviews">Go to the first page' in html and "Queue 0" not in html


@pytest.mark.parametrize("who", ["writer", "editor", "admin"])
def test_queue_is_for_reviewers_only(cast, login, client, who):
    login(cast[who])
    assert client.get("/reviews").status_code == 403


def test_queue_needs_sign_in(client):
    response = client.get("/reviews")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# Workspace ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("who, status, form", [
    ("rev", 200, True), ("writer", 200, False), ("editor", 200, False), ("admin", 200, False),
    ("rev2", 404, False), ("writer2", 404, False),  # cannot see the article: it does not exist for them
])
def test_workspace_by_role(cast, login, client, in_review, who, status, form):
    login(cast[who])
    response = client.get(f"/work/articles/{in_review.id}/review")
    assert response.status_code == status
    html = response.get_data(as_text=True)
    if status == 200:
        assert "data-annotate-root" in html
        assert "revision 1 of 1" in html.lower()
        assert ('id="annotate-form"' in html) is form
        assert ("?decision=approve" in html) is form


def test_workspace_highlights_open_quotes_and_lists_orphans(db, cast, login, client, in_review):
    ann = annotate(db, in_review, cast["rev"], blocking=True)
    gone = annotate(db, in_review, cast["rev"], quote="cotton layers are gentler")
    body = in_review.revision.body.replace("cotton layers are gentler", "soft layers help")
    articles.save_revision(cast["writer"], in_review, in_review.title, body, 1)
    db.session.commit()
    login(cast["rev"])
    html = client.get(f"/work/articles/{in_review.id}/review").get_data(as_text=True)
    assert f'<mark class="annotation blocking" data-annotation-id="{ann.id}">{QUOTE}</mark>' in html
    assert "Needs attention" in html and f'data-annotation-id="{gone.id}"' not in html
    assert "1 open, 1 blocking" not in html and "2 open, 1 blocking" in html
    assert "Changes since your last review" not in html


def test_workspace_links_changes_since_last_decision(db, cast, login, client):
    article = make_article(cast["writer"], "changes_requested", reviewer=cast["rev"], editor=cast["editor"])
    articles.save_revision(cast["writer"], article, article.title, article.revision.body + "\nMore.\n", 1)
    articles.submit_article(cast["writer"], article)
    db.session.commit()
    login(cast["rev"])
    html = client.get(f"/work/articles/{article.id}/review").get_data(as_text=True)
    assert "Changes since your last review (revision 1)" in html


def test_highlight_never_touches_tags_or_entities():
    class Ann:
        def __init__(self, id, quote, prefix=""):
            self.id, self.quote, self.prefix, self.blocking = id, quote, prefix, False

    rendered = '<p>A &amp; B <a href="http://x.org/amp" title="a>amp">amp link</a> and amp</p>'
    out, marked = highlight(rendered, [Ann(1, "amp"), Ann(2, "& B"), Ann(3, "not there")])
    assert marked == {1, 2}
    assert 'href="http://x.org/amp" title="a>amp"' in out
    assert '<mark class="annotation" data-annotation-id="2">&amp; B</mark>' in out
    assert '<mark class="annotation" data-annotation-id="1">amp</mark> link' in out
    out, _ = highlight("<p>amp one, amp two</p>", [Ann(1, "amp", prefix="one, ")])
    assert out == '<p>amp one, <mark class="annotation" data-annotation-id="1">amp</mark> two</p>'


# Annotations ----------------------------------------------------------------------------------------

def test_assigned_reviewer_annotates(db, cast, login, client, in_review):
    login(cast["rev"])
    response = client.post(f"/work/articles/{in_review.id}/annotations", data={
        "quote": QUOTE, "prefix": "humidity dry the skin barrier. ", "suffix": "", "comment": "Cite a source.",
        "blocking": "y", "revision": "1"})
    assert response.status_code == 303
    ann = db.session.scalar(select(Annotation).where(Annotation.article_id == in_review.id))
    assert ann.blocking and ann.quote == QUOTE and ann.author_id == cast["rev"].id
    assert events(db, "annotation.added", in_review.id) == 1


@pytest.mark.parametrize("who, status", [("rev2", 404), ("writer", 403), ("editor", 403)])
def test_others_cannot_annotate(db, cast, login, client, in_review, who, status):
    login(cast[who])
    response = client.post(f"/work/articles/{in_review.id}/annotations",
                           data={"quote": QUOTE, "comment": "x", "revision": "1"})
    assert response.status_code == status
    assert count(db, Annotation) == 0


def test_annotation_with_absent_quote_is_refused_at_the_form(db, cast, login, client, in_review):
    login(cast["rev"])
    response = client.post(f"/work/articles/{in_review.id}/annotations",
                           data={"quote": "Nowhere in the text", "comment": "My typed comment", "revision": "1"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "not in that revision" in html
    assert "My typed comment" in html and 'value="Nowhere in the text"' in html
    assert count(db, Annotation) == 0


def test_annotation_needs_a_comment(db, cast, login, client, in_review):
    login(cast["rev"])
    response = client.post(f"/work/articles/{in_review.id}/annotations",
                           data={"quote": QUOTE, "comment": "  ", "revision": "1"})
    assert response.status_code == 400
    assert count(db, Annotation) == 0


def test_writer_replies_resolves_and_reopens(db, cast, login, client, in_review):
    ann = annotate(db, in_review, cast["rev"])
    login(cast["writer"])
    response = client.post(f"/work/annotations/{ann.id}/reply", data={"comment": "Source added."})
    assert response.status_code == 303 and f"/work/articles/{in_review.id}/review" in response.headers["Location"]
    assert count(db, AnnotationReply, AnnotationReply.annotation_id == ann.id) == 1
    response = client.post(f"/work/annotations/{ann.id}/resolve", data={"next": f"/work/articles/{in_review.id}/edit"})
    assert response.headers["Location"].endswith(f"/work/articles/{in_review.id}/edit")
    db.session.expire_all()
    assert db.session.get(Annotation, ann.id).status == "resolved"
    response = client.post(f"/work/annotations/{ann.id}/reopen", data={"next": "https://evil.example/"})
    assert "evil.example" not in response.headers["Location"]
    db.session.expire_all()
    assert db.session.get(Annotation, ann.id).status == "open"
    assert events(db, "annotation.resolved", in_review.id) == 1 and events(db, "annotation.reopened") == 1


def test_blocking_annotation_is_resolved_by_its_reviewer_not_the_writer(db, cast, login, client, in_review):
    ann = annotate(db, in_review, cast["rev"], blocking=True)
    login(cast["writer"])
    assert client.post(f"/work/annotations/{ann.id}/resolve").status_code == 403
    db.session.expire_all()
    assert db.session.get(Annotation, ann.id).status == "open"
    assert events(db, "annotation.resolved") == 0
    # The writer still answers it with a reply.
    assert client.post(f"/work/annotations/{ann.id}/reply", data={"comment": "Guideline cited."}).status_code == 303
    client.post("/logout")
    login(cast["rev"])
    assert client.post(f"/work/annotations/{ann.id}/resolve").status_code == 303
    db.session.expire_all()
    assert db.session.get(Annotation, ann.id).status == "resolved"
    client.post("/logout")
    login(cast["writer"])
    assert client.post(f"/work/annotations/{ann.id}/reopen").status_code == 403
    db.session.expire_all()
    assert db.session.get(Annotation, ann.id).status == "resolved"
    assert events(db, "annotation.resolved", in_review.id) == 1 and events(db, "annotation.reopened") == 0


def test_empty_reply_is_refused(db, cast, login, client, in_review):
    ann = annotate(db, in_review, cast["rev"])
    login(cast["writer"])
    assert client.post(f"/work/annotations/{ann.id}/reply", data={"comment": ""}).status_code == 400
    assert count(db, AnnotationReply) == 0


@pytest.mark.parametrize("who, action, status", [("rev2", "reply", 404), ("rev2", "resolve", 404),
                                                 ("editor", "resolve", 403), ("writer2", "reply", 404),
                                                 ("writer2", "resolve", 404)])
def test_others_cannot_reply_or_resolve(db, cast, login, client, in_review, who, action, status):
    ann = annotate(db, in_review, cast["rev"])
    login(cast[who])
    assert client.post(f"/work/annotations/{ann.id}/{action}", data={"comment": "Hi"}).status_code == status
    db.session.expire_all()
    assert count(db, AnnotationReply) == 0 and db.session.get(Annotation, ann.id).status == "open"


# Signing ----------------------------------------------------------------------------------------------

def sign(client, article, decision="approve", password=PASSWORD, items=None, comment="", revision=None):
    return client.post(f"/work/articles/{article.id}/sign?decision={decision}", data={
        "revision": str(revision or article.current_revision), "password": password, "comment": comment,
        "checklist": items or []})


def test_sign_dialog_shows_what_is_signed(app, cast, login, client, in_review):
    login(cast["rev"])
    response = client.get(f"/work/articles/{in_review.id}/sign?decision=approve")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Approve revision 1 of “Eczema in winter”" in html
    assert in_review.revision.content_hash in html
    assert "Dana Okafor, M.D., Ph.D., Dermatology" in html
    assert "I have medically reviewed this content and approve it as accurate." in html
    assert 'type="password"' in html
    # Signing is the page's primary action, not a danger: the button says so in its colour.
    assert '<button type="submit" class="btn btn-primary">Sign and approve</button>' in html
    assert all(item.replace("'", "&#39;") in html for item in checklist(app))


def test_approve_happy_path(app, db, cast, login, client, in_review):
    login(cast["rev"])
    response = sign(client, in_review, items=checklist(app))
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Article, in_review.id).state == "approved"
    decision = db.session.scalar(select(Decision).where(Decision.article_id == in_review.id))
    assert decision.decision == "approve" and decision.credentials == "M.D., Ph.D."
    assert decision.content_hash == in_review.revision.content_hash and decision.printed_name == "Dana Okafor"
    assert decision.specialty == "Dermatology"
    assert events(db, "decision.signed", in_review.id) == 1


def test_approval_needs_every_checklist_item(app, db, cast, login, client, in_review):
    login(cast["rev"])
    response = sign(client, in_review, items=checklist(app)[:1])
    assert response.status_code == 400
    # The service's message, shown beside the checklist it is about.
    beside = re.search(r'id="checklist-error">(.*?)</div>', response.get_data(as_text=True), re.S)
    assert beside and "attests every item of the review checklist" in unescape(beside.group(1))
    assert "Nothing was signed." in unescape(beside.group(1))
    assert count(db, Decision) == 0 and events(db, "decision.signed") == 0
    db.session.expire_all()
    assert db.session.get(Article, in_review.id).state == "in_review"


def test_wrong_password_signs_nothing(app, db, cast, login, client, in_review):
    login(cast["rev"])
    response = sign(client, in_review, password="not-the-password", items=checklist(app))
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert 'id="password-error"' in html and "That password is not right. Approval needs your password." in html
    assert 'type="password"' in html and 'id="sign-problem"' not in html  # beside its field, the form still there
    assert count(db, Decision) == 0
    assert events(db, "decision.signed") == 0
    db.session.expire_all()
    assert db.session.get(Article, in_review.id).state == "in_review"


def test_wrong_passwords_are_kept_as_audit_events_and_five_lock_signing(app, db, cast, login, client, in_review):
    login(cast["rev"])
    for attempt in range(1, 6):
        response = sign(client, in_review, password=f"wrong-{attempt}", items=checklist(app))
        assert response.status_code == 401
        assert events(db, "signature.failed", in_review.id) == attempt  # committed with the 401
    refused = sign(client, in_review, items=checklist(app))  # the right password, too late
    assert refused.status_code == 429
    assert count(db, Decision) == 0 and events(db, "decision.signed") == 0
    db.session.expire_all()
    assert db.session.get(Article, in_review.id).state == "in_review"


def test_missing_password_signs_nothing(app, db, cast, login, client, in_review):
    login(cast["rev"])
    response = sign(client, in_review, password="", items=checklist(app))
    assert response.status_code == 400
    assert "Approval needs your password. Nothing was signed." in response.get_data(as_text=True)
    assert count(db, Decision) == 0


def test_approval_with_blocking_annotation_open_is_refused(app, db, cast, login, client, in_review):
    ann = annotate(db, in_review, cast["rev"], blocking=True)
    login(cast["rev"])
    page = client.get(f"/work/articles/{in_review.id}/sign?decision=approve").get_data(as_text=True)
    assert "blocking annotation is still open" in page and 'type="password"' not in page
    response = sign(client, in_review, items=checklist(app))
    assert response.status_code == 409
    assert f"#annotation-{ann.id}" in response.get_data(as_text=True)
    assert count(db, Decision) == 0 and events(db, "decision.signed") == 0


def test_request_changes_needs_a_comment(db, cast, login, client, in_review):
    login(cast["rev"])
    response = sign(client, in_review, decision="request_changes")
    assert response.status_code == 400
    assert count(db, Decision) == 0
    response = sign(client, in_review, decision="request_changes", comment="Add a source for the timing.")
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Article, in_review.id).state == "changes_requested"
    decision = db.session.scalar(select(Decision))
    assert decision.decision == "request_changes" and decision.comment == "Add a source for the timing."


def test_stale_revision_signs_nothing(app, db, cast, login, client, in_review):
    articles.save_revision(cast["writer"], in_review, in_review.title, in_review.revision.body + "\nNew.\n", 1)
    db.session.commit()
    login(cast["rev"])
    response = sign(client, in_review, items=checklist(app), revision=1)
    assert response.status_code == 409
    assert "not the current revision" in response.get_data(as_text=True)
    assert count(db, Decision) == 0


@pytest.mark.parametrize("who, status", [("writer", 403), ("rev2", 404), ("editor", 403), ("admin", 403)])
def test_only_assigned_reviewers_sign(app, db, cast, login, client, in_review, who, status):
    login(cast[who])
    assert client.get(f"/work/articles/{in_review.id}/sign?decision=approve").status_code == status
    assert sign(client, in_review, items=checklist(app)).status_code == status
    assert count(db, Decision) == 0


def test_expired_licence_gets_an_explanation_and_no_password_form(app, db, cast, login, client, in_review):
    db.session.execute(update(ReviewerProfile).where(ReviewerProfile.user_id == cast["rev"].id)
                       .values(license_expires=utcnow().date() - timedelta(days=1)))
    db.session.commit()
    login(cast["rev"])
    page = client.get(f"/work/articles/{in_review.id}/sign?decision=approve")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Dana Okafor&#39;s licence expired on" in html and 'type="password"' not in html
    refused = sign(client, in_review, items=checklist(app))
    assert refused.status_code == 409 and "licence expired on" in refused.get_data(as_text=True)
    assert count(db, Decision) == 0


def test_sign_needs_a_known_decision_and_a_state_in_review(cast, login, client, db):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    login(cast["rev"])
    assert client.get(f"/work/articles/{article.id}/sign?decision=maybe").status_code == 400
    assert client.get(f"/work/articles/{article.id}/sign?decision=approve").status_code == 409


def test_rereview_approval_republishes(app, db, cast, login, client):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    reviews.assign_reviewer(cast["editor"], article, cast["rev"].id)
    db.session.commit()
    login(cast["rev"])
    assert sign(client, article, items=checklist(app)).status_code == 303
    assert count(db, PublishedVersion, PublishedVersion.article_id == article.id) == 2
    db.session.expire_all()
    assert db.session.get(Article, article.id).state == "published"


# Assignment -----------------------------------------------------------------------------------------

def test_editor_sees_reviewers_with_reasons(cast, login, client):
    article = make_article(cast["writer"], "submitted")
    login(cast["editor"])
    response = client.get(f"/work/articles/{article.id}/assign")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Dana Okafor, M.D., Ph.D. · Dermatology · matches topic · 0 open reviews" in html
    assert "licence expired on 1 Jan 2020" in html and "disabled" in html
    assert (utcnow().date() + timedelta(days=7)).isoformat() in html


def test_editor_assigns_a_reviewer(db, cast, login, client):
    article = make_article(cast["writer"], "submitted")
    login(cast["editor"])
    due = (utcnow().date() + timedelta(days=5)).isoformat()
    response = client.post(f"/work/articles/{article.id}/assign", data={"reviewer": cast["rev"].id, "due_date": due})
    assert response.status_code == 303
    row = db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == article.id))
    assert row.reviewer_id == cast["rev"].id and row.status == "pending" and row.due_date.isoformat() == due
    db.session.expire_all()
    assert db.session.get(Article, article.id).state == "in_review"
    assert events(db, "reviewer.assigned", article.id) == 1


def test_expired_reviewer_is_refused(db, cast, login, client):
    article = make_article(cast["writer"], "submitted")
    login(cast["editor"])
    response = client.post(f"/work/articles/{article.id}/assign", data={"reviewer": cast["expired"].id})
    assert response.status_code == 409
    assert "licence expired" in response.get_data(as_text=True)
    assert count(db, ReviewAssignment) == 0


def test_writer_cannot_be_assigned_to_their_own_article(db, cast, login, client):
    both = make_user("writer", "reviewer", name="Wri Rev")
    article = make_article(both, "submitted")
    login(cast["editor"])
    response = client.post(f"/work/articles/{article.id}/assign", data={"reviewer": both.id})
    assert response.status_code == 409
    assert "wrote this article" in response.get_data(as_text=True)
    assert count(db, ReviewAssignment) == 0


def test_assigning_twice_is_a_conflict(db, cast, login, client, in_review):
    login(cast["editor"])
    response = client.post(f"/work/articles/{in_review.id}/assign", data={"reviewer": cast["rev"].id})
    assert response.status_code == 409
    assert count(db, ReviewAssignment) == 1


def test_assign_form_errors(db, cast, login, client):
    article = make_article(cast["writer"], "submitted")
    login(cast["editor"])
    assert client.post(f"/work/articles/{article.id}/assign", data={"reviewer": "abc"}).status_code == 400
    past = (utcnow().date() - timedelta(days=1)).isoformat()
    response = client.post(f"/work/articles/{article.id}/assign", data={"reviewer": cast["rev"].id, "due_date": past})
    assert response.status_code == 400 and "past" in response.get_data(as_text=True)
    assert count(db, ReviewAssignment) == 0


@pytest.mark.parametrize("who, status", [("writer", 403), ("rev", 404), ("admin", 403)])
def test_only_editors_assign(db, cast, login, client, who, status):
    article = make_article(cast["writer"], "submitted")
    login(cast[who])  # a reviewer not assigned to the article cannot see it
    assert client.get(f"/work/articles/{article.id}/assign").status_code == status
    response = client.post(f"/work/articles/{article.id}/assign", data={"reviewer": cast["rev2"].id})
    assert response.status_code == status
    assert count(db, ReviewAssignment) == 0


def test_editor_withdraws_a_reviewer(db, cast, login, client, in_review):
    row = db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == in_review.id))
    login(cast["editor"])
    page = client.get(f"/work/articles/{in_review.id}/assign").get_data(as_text=True)
    assert f"/assignments/{row.id}/withdraw" in page and "data-confirm" in page
    response = client.post(f"/work/articles/{in_review.id}/assignments/{row.id}/withdraw")
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(ReviewAssignment, row.id).status == "withdrawn"
    assert db.session.get(Article, in_review.id).state == "submitted"
    assert events(db, "reviewer.withdrawn", in_review.id) == 1
    assert client.post(f"/work/articles/{in_review.id}/assignments/{row.id}/withdraw").status_code == 409


@pytest.mark.parametrize("who", ["writer", "rev"])
def test_only_editors_withdraw(db, cast, login, client, in_review, who):
    row = db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == in_review.id))
    login(cast[who])
    assert client.post(f"/work/articles/{in_review.id}/assignments/{row.id}/withdraw").status_code == 403
    db.session.expire_all()
    assert db.session.get(ReviewAssignment, row.id).status == "pending"


def test_withdrawn_reviewer_no_longer_sees_the_article(app, db, cast, login, client, in_review):
    ann = annotate(db, in_review, cast["rev"], blocking=True)
    row = db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == in_review.id))
    reviews.withdraw_assignment(cast["editor"], in_review, row)
    db.session.commit()
    login(cast["rev"])
    for path in ("", "/review", "/sign?decision=approve"):
        assert client.get(f"/work/articles/{in_review.id}{path}").status_code == 404, path
    assert sign(client, in_review, items=checklist(app)).status_code == 404
    assert client.post(f"/work/annotations/{ann.id}/resolve").status_code == 404
    assert client.post(f"/work/articles/{in_review.id}/annotations",
                       data={"quote": QUOTE, "comment": "x", "revision": "1"}).status_code == 404
    db.session.expire_all()
    assert count(db, Decision) == 0 and count(db, Annotation) == 1
    assert db.session.get(Annotation, ann.id).status == "open"


def test_unknown_ids_are_404(cast, login, client, in_review):
    login(cast["editor"])
    assert client.get("/work/articles/999999/review").status_code == 404
    assert client.post(f"/work/articles/{in_review.id}/assignments/999999/withdraw").status_code == 404
    assert client.post("/work/annotations/999999/resolve").status_code == 404


# Query counts ---------------------------------------------------------------------------------------

def _queries_for(db, client, path: str) -> int:
    seen = []
    db.session.expire_all()

    def listener(*_):
        seen.append(1)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(seen)


def _grow(db, cast, first, n: int) -> None:
    """``n`` more assignments for rev (each by another writer) and ``n`` more annotations with a reply."""
    for _ in range(n):
        other = make_user("writer")
        make_article(other, "in_review", reviewer=cast["rev"], editor=cast["editor"], title="More")
        ann = annotate(db, first, cast["rev"], quote="Short lukewarm showers")
        reviews.reply_to_annotation(cast["writer"], ann, "A reply")
        db.session.commit()


def test_queue_and_workspace_make_a_fixed_number_of_queries(db, cast, login, client):
    first = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], title="One")
    _grow(db, cast, first, 2)
    login(cast["rev"])
    queue_few = _queries_for(db, client, "/reviews")
    work_few = _queries_for(db, client, f"/work/articles/{first.id}/review")
    _grow(db, cast, first, 4)
    assert _queries_for(db, client, "/reviews") == queue_few
    assert _queries_for(db, client, f"/work/articles/{first.id}/review") == work_few
