"""A fixed number of SQL statements per page and API endpoint, whatever the data size.

Every GET page and GET API endpoint of the url map is requested by the role that may see it
(public pages anonymously, the API with a bearer token) on a small data set, then again after
the same data has grown about threefold: more articles in every state, more people, tokens,
profile versions, notifications and audit events, and the objects that single pages show grow
too (the article under review gets revisions, annotations, replies, decisions and withdrawn
reviewers; the published article gets versions and reviewers). An endpoint whose statement
count changes has a query inside a loop: its test fails naming the statement that repeats and
the template or code line it came from.

The data is built once for the module through the real services and every endpoint is measured
on it, so each endpoint is its own test id without rebuilding the world each time. Each request
is made once to warm up (an API token is stamped with its last use at most once a minute), then
counted on a fresh session with the public page cache emptied, as a real cold request would be.

The module also proves the N+1 guard of ``conftest.py``: reading a relationship row by row fails.
"""
from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, lazyload

from reviewflow.articles import services as articles
from reviewflow.articles.models import Article
from reviewflow.audit.models import AuditEvent
from reviewflow.auth import invitations, links, sessions
from reviewflow.auth import services as accounts
from reviewflow.auth.models import PasswordReset, User
from reviewflow.extensions import db, utcnow
from reviewflow.notifications.models import OutboxEmail
from reviewflow.notifications.outbox import send_outbox
from reviewflow.public import pagecache
from reviewflow.publishing import services as publishing
from reviewflow.reviews import queries as review_queries
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import ReviewAssignment
from reviewflow.webhooks import services as webhooks
from tests.factories import (
    BODY,
    CHECKLIST,
    PASSWORD,
    empty_schema,
    make_app,
    make_article,
    make_user,
    token_for,
    verify,
)

ROOT = Path(__file__).resolve().parent.parent
OWN_CODE = (str(ROOT / "reviewflow"), str(ROOT / "templates"))
#: Rounds of growth in the small and in the large data set (the large one is this many times the small).
SMALL, LARGE = 1, 3
#: Not measured: static files touch no database, and only GET requests are pages or reads.
EXCLUDED = {"static": "serves files from disk; no database",
            "public.home": "a redirect to /articles or /dashboard, reading no more than the session",
            "articles.resubmit": "open only between a new revision and the resubmission, which the growing world "
                                 "passes through at once; a fixed set of queries (decisions, annotations with "
                                 "their replies, sources), run under the N+1 guard by tests/articles/test_resubmit.py",
            "two_factor.login_code": "the code step of a sign-in: one person read by id, from the session"}
STATES = ("draft", "submitted", "in_review", "changes_requested", "approved", "published")


# The data --------------------------------------------------------------------------------------


@dataclass
class World:
    """The people and the two growing articles, by id, and how many rounds of growth were added."""

    people: dict[str, int]
    tokens: dict[str, str]
    review_id: int = 0
    live_id: int = 0
    rounds: int = 0

    def person(self, key: str) -> User:
        return actor(self.people[key])

    @property
    def review_article(self) -> Article:
        return db.session.get(Article, self.review_id)

    @property
    def live_article(self) -> Article:
        return db.session.get(Article, self.live_id)


def actor(user_id: int) -> User:
    """A person as the app loads the one acting: with roles and profile, even if already in the session."""
    return db.session.get(User, user_id, options=accounts.with_roles(), populate_existing=True)


def _commit(result=None):
    """Commit each step, as each request does, and hand its result on."""
    db.session.commit()
    return result


def _review_body(n: int) -> str:
    """The text of the article under review after ``n`` rounds: one more cited source each round,
    and an aside that the next round deletes (its annotation is then orphaned)."""
    sources = "".join(f"\nSource {i}: a dermatology society leaflet, edition {i}.\n" for i in range(1, n + 1))
    return f"{BODY}{sources}\nDraft aside {n}.\n"


def start(w: World) -> None:
    """The two articles whose own pages must not grow in cost: one in review, one live and approved again."""
    writer, writer2, editor = w.person("writer"), w.person("writer2"), w.person("editor")
    rev, rev2 = w.person("rev"), w.person("rev2")
    x = _commit(articles.create_article(writer, "Sunscreen and eczema", _review_body(0), "Dermatology"))
    _commit(reviews.assign_reviewer(editor, x, rev.id, utcnow().date() + timedelta(days=2)))
    _commit(reviews.assign_reviewer(editor, x, rev2.id))
    _commit(articles.submit_article(writer, x))
    p = _commit(articles.create_article(writer2, "Night-time itching", BODY, "Dermatology"))
    for person in (rev, rev2):
        _commit(reviews.assign_reviewer(editor, p, person.id))
    _commit(articles.submit_article(writer2, p))
    for person in (rev, rev2):
        _commit(reviews.sign_decision(person, p, p.current_revision, "approve", PASSWORD, checklist=CHECKLIST))
    w.review_id, w.live_id = x.id, p.id


def grow_review(w: World, n: int, newcomer: User) -> None:
    """Round ``n`` on the article under review: three annotations (blocking, resolved, soon orphaned),
    a thread of replies, a signed request for changes, a new revision, a resubmission, and one more
    reviewer assigned then withdrawn."""
    writer, editor, rev = w.person("writer"), w.person("editor"), w.person("rev")
    x = w.review_article
    rn = x.current_revision
    blocking = _commit(reviews.add_annotation(rev, x, rn, "Moisturize within three minutes of bathing.",
                                              f"Round {n}: cite the guideline.", True))
    resolved = _commit(reviews.add_annotation(rev, x, rn, "Short lukewarm showers", f"Round {n}: how short?"))
    _commit(reviews.add_annotation(rev, x, rn, f"Draft aside {n - 1}.", f"Round {n}: drop this aside."))
    for person, words in ((writer, "Which guideline?"), (rev, "The 2023 one."), (writer, "Added.")):
        _commit(reviews.reply_to_annotation(person, blocking, f"Round {n}: {words}"))
    _commit(reviews.set_annotation_status(rev, resolved, "resolved"))
    _commit(reviews.sign_decision(rev, x, rn, "request_changes", PASSWORD, comment=f"Round {n}: sources."))
    _commit(articles.save_revision(writer, x, x.title, _review_body(n), rn, f"Round {n} sources"))
    _commit(articles.submit_article(writer, x))
    _commit(reviews.assign_reviewer(editor, x, newcomer.id))
    assignment = db.session.scalar(select(ReviewAssignment).where(ReviewAssignment.article_id == x.id,
                                                                  ReviewAssignment.reviewer_id == newcomer.id))
    _commit(reviews.withdraw_assignment(editor, x, assignment))


def grow_live(w: World, n: int, newcomer: User) -> None:
    """Round ``n`` on the live article: publish the approved revision (one more version), revise it,
    add a reviewer, resubmit, and have every reviewer approve again."""
    writer2, editor = w.person("writer2"), w.person("editor")
    p = w.live_article
    _commit(publishing.publish_revision(editor, p, p.current_revision, f"Round {n} update."))
    _commit(articles.save_revision(writer2, p, p.title, BODY + f"\nUpdated in round {n}.\n", p.current_revision,
                                   f"Round {n}"))
    _commit(reviews.assign_reviewer(editor, p, newcomer.id))
    _commit(articles.submit_article(writer2, p))
    for assignment in review_queries.assignments_of(p):
        if assignment.active:
            _commit(reviews.sign_decision(actor(assignment.reviewer_id), p, p.current_revision, "approve", PASSWORD,
                                            checklist=CHECKLIST))


def grow_background(w: World, n: int) -> User:
    """Round ``n`` around them: an article in every state from both writers, one unpublished, a
    re-review falling due, a new reviewer, a token and a profile version for the reviewer, and a
    run of ``send-mail`` that sends what is queued and sets aside two mails it cannot build."""
    writer, writer2, editor, admin = (w.person(k) for k in ("writer", "writer2", "editor", "admin"))
    rev, rev2 = w.person("rev"), w.person("rev2")
    _commit(webhooks.create_endpoint(admin, f"https://cms{n}.example.org/hooks", f"CMS {n}", list(webhooks.EVENTS)))
    for i, state in enumerate(STATES):
        make_article(writer if i % 2 else writer2, state, reviewer=rev if i % 3 else rev2, editor=editor,
                     title=f"Round {n} {state}", topic="Dermatology" if i % 2 else "Sleep")
    gone = make_article(writer, "published", reviewer=rev, editor=editor, title=f"Round {n} withdrawn advice")
    _commit(publishing.unpublish_article(editor, gone, "Superseded guidance."))
    due = make_article(writer2, "published", reviewer=rev, editor=editor, title=f"Round {n} due for re-review")
    due.rereview_due = utcnow().date() + timedelta(days=3)
    _commit()
    accounts.create_token(rev, rev, f"Script {n}", PASSWORD)
    invitations.invite(admin, f"invitee{n}@example.org", f"Invitee {n}", ["writer", "editor"])
    sessions.start_session(rev, f"Browser {n}", f"192.0.2.{n}")  # another device of the reviewer
    accounts.save_profile(admin, rev, {"credentials": "M.D., Ph.D.", "specialty": "Dermatology",
                                       "license_number": "LIC-REV", "license_jurisdiction": "Georgia, USA",
                                       "license_expires": "2099-12-31", "affiliation": f"Clinic {n}",
                                       "organization": "Northwind Review Network", "bio": f"Bio {n}."})
    _commit()
    verify(rev, by=admin)
    for i in (1, 2):  # not one e-mail address each: send-mail sets them aside for the admins' mail page
        db.session.add(OutboxEmail(to_address=f"desk{n}-{i}@example.org, team@example.org",
                                   subject=f"[reviewflow] Round {n} digest {i}", body="Digest."))
    _commit()
    while send_outbox(limit=500) != (0, 0):
        pass
    return make_user("reviewer", name=f"Newcomer {n}", specialty="Dermatology")


def grow(w: World, until: int) -> None:
    """Add rounds until the world has ``until`` of them."""
    while w.rounds < until:
        n = w.rounds + 1
        newcomer = grow_background(w, n)
        grow_review(w, n, newcomer)
        grow_live(w, n, newcomer)
        w.rounds = n


def build_people() -> World:
    """The cast, and API tokens for those who call the API."""
    people = {
        "writer": make_user("writer", name="Wren Alder"),
        "writer2": make_user("writer", name="Tove Brandt"),
        "editor": make_user("editor", name="Eddie Marsh"),
        "admin": make_user("admin", name="Ada Admin"),
        "rev": make_user("reviewer", name="Dana Okafor", credentials="M.D., Ph.D."),
        "rev2": make_user("reviewer", name="Ravi Senn", credentials="PharmD", specialty="Pharmacology"),
    }
    tokens = {key: token_for(people[key]) for key in ("writer", "editor", "rev")}
    _, tokens["invitation"] = invitations.invite(people["admin"], "newcomer@example.org", "Nia Newcomer",
                                                 ["reviewer"], profile={"credentials": "R.N.", "specialty": "Sleep",
                                                                        "license_number": "RN-1",
                                                                        "license_expires": "2099-12-31"})
    tokens["reset"], digest = links.new_token()
    db.session.add(PasswordReset(email=people["writer"].email, user_id=people["writer"].id, token_hash=digest,
                                 expires_at=utcnow() + timedelta(days=1)))
    db.session.commit()
    return World({k: u.id for k, u in people.items()}, tokens)


# The endpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One GET request: the endpoint it must reach, who makes it (None: anonymous), its path (a format
    string over ``World.fields``), whether it is an API call, and whether its page shows more data once
    the world has grown (checked, so the comparison is never between two empty pages)."""

    endpoint: str
    who: str | None
    path: str
    api: bool = False
    grows: bool = True

    @property
    def id(self) -> str:
        page = next((name for name in ("review", "live") if f"{{{name}}}" in self.path), "")
        query = re.sub(r"[{}]", "", self.path.split("?", 1)[1]) if "?" in self.path else ""
        return "-".join(filter(None, [self.endpoint, self.who or "anonymous", page, query]))


STAFF = ("writer", "rev", "editor", "admin")
CASES = [
    *[Case("articles.dashboard", who, "/dashboard", grows=who != "admin") for who in STAFF],
    *[Case("articles.index", who, "/work/articles") for who in STAFF],
    Case("articles.index", "editor", "/work/articles?state=in_review&state=published&topic=Dermatology&q=round"),
    *[Case("articles.notifications", who, "/notifications") for who in ("writer", "rev", "editor")],
    Case("overview.overview", "editor", "/editorial"),
    Case("preferences.preferences", "writer", "/account/preferences", grows=False),
    Case("articles.new", "writer", "/work/articles/new", grows=False),
    *[Case("articles.detail", who, "/work/articles/{review}") for who in STAFF],
    Case("articles.detail", "editor", "/work/articles/{live}"),
    Case("articles.edit", "writer", "/work/articles/{review}/edit"),
    Case("articles.history", "writer", "/work/articles/{review}/history"),
    Case("articles.diff", "writer", "/work/articles/{review}/diff?a=1"),
    Case("articles.diff", "rev", "/work/articles/{review}/diff?a=1&view=side"),
    *[Case("reviews.workspace", who, "/work/articles/{review}/review") for who in ("rev", "writer", "editor")],
    Case("reviews.sign", "rev", "/work/articles/{review}/sign?decision=approve"),
    Case("reviews.sign", "rev", "/work/articles/{review}/sign?decision=request_changes", grows=False),
    Case("reviews.assign", "editor", "/work/articles/{review}/assign"),
    Case("reviews.queue", "rev", "/reviews"),
    Case("reviews.queue", "rev2", "/reviews"),
    Case("publishing.confirm", "editor", "/work/articles/{live}/publish"),
    Case("publishing.unpublish", "editor", "/work/articles/{live}/unpublish", grows=False),
    Case("publishing.certificate", "editor", "/work/articles/{live}/versions/{version}/certificate"),
    Case("publishing.certificate", "writer2", "/work/articles/{live}/versions/{version}/certificate"),
    Case("audit.log", "editor", "/audit", grows=False),  # a full page of 50 events either way
    Case("audit.log", "admin", "/audit?article={review}"),
    Case("audit.event", "editor", "/audit/events/{seq}", grows=False),  # one event either way
    Case("audit.event", "writer", "/audit/events/{seq}", grows=False),
    Case("audit.article_timeline", "writer", "/work/articles/{review}/audit"),
    Case("audit.article_timeline", "editor", "/work/articles/{live}/audit"),
    Case("audit.export", "editor", "/audit/export?format=csv"),
    Case("audit.export", "writer", "/audit/export?format=jsonl&article={review}"),
    *[Case("auth.account", who, "/account", grows=who != "admin") for who in ("writer", "rev", "admin")],
    *[Case("two_factor.setup", who, "/account/two-factor", grows=False) for who in ("writer", "rev")],
    Case("auth.admin_users", "admin", "/admin/users"),
    Case("auth.admin_user_new", "admin", "/admin/users/new", grows=False),
    Case("auth.admin_user_edit", "admin", "/admin/users/{rev}"),
    Case("notifications.admin_mail", "admin", "/admin/mail"),
    Case("webhooks.endpoints", "admin", "/admin/webhooks"),
    Case("webhooks.new_endpoint", "admin", "/admin/webhooks/new", grows=False),
    Case("webhooks.deliveries", "admin", "/admin/webhooks/deliveries"),
    Case("auth.login", None, "/login", grows=False),
    Case("access.forgot_password", None, "/password/forgot", grows=False),
    Case("access.reset_sent", None, "/password/forgot/sent", grows=False),
    Case("access.reset_password", None, "/password/reset/{reset}", grows=False),
    Case("access.accept_invitation", None, "/invitations/{invitation}", grows=False),
    Case("access.admin_invitations", "admin", "/admin/invitations"),
    Case("access.admin_invite", "admin", "/admin/invitations/new", grows=False),
    Case("public.index", None, "/articles"),
    Case("public.index", None, "/articles?topic=Dermatology"),
    Case("public.index", "editor", "/articles"),
    Case("public.article", None, "/articles/{slug}"),
    Case("public.article", "writer2", "/articles/{slug}"),
    Case("public.version", None, "/articles/{slug}/v{version}"),
    Case("public.reviewer", None, "/reviewers/{rev}"),
    Case("public.writer", None, "/writers/{writer2}"),
    Case("public.feed", None, "/feed.atom"),
    Case("public.feed_json", None, "/feed.json"),
    Case("public.reviewers", None, "/reviewers"),
    Case("site.medical_review", None, "/about/medical-review", grows=False),
    Case("site.admin_settings", "admin", "/admin/site", grows=False),
    Case("public.sitemap", None, "/sitemap.xml"),
    Case("public.robots", None, "/robots.txt", grows=False),
    Case("api.openapi", None, "/api/v1/openapi.json", api=True, grows=False),
    Case("api.review_checklist", None, "/api/v1/review-checklist", api=True, grows=False),
    Case("api.me", "writer", "/api/v1/me", api=True, grows=False),
    Case("api.get_article", "writer", "/api/v1/articles/{review}", api=True),
    Case("api.get_article", "editor", "/api/v1/articles/{live}", api=True),
    Case("api.list_annotations", "rev", "/api/v1/articles/{review}/annotations", api=True),
    Case("api.list_source_checks", "rev", "/api/v1/articles/{review}/source-checks", api=True, grows=False),
    Case("health.healthz", None, "/healthz", grows=False),
    Case("api.article_audit", "writer", "/api/v1/articles/{review}/audit", api=True),
    Case("api.published", None, "/api/v1/published/{slug}", api=True),
]


def fields(w: World) -> dict:
    """The values the case paths are written with, read now (some change as the world grows)."""
    live = w.live_article
    seq = db.session.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.article_id == w.review_id))
    return {"review": w.review_id, "live": w.live_id, "slug": live.slug, "version": live.live_version,
            "seq": seq, "rev": w.people["rev"], "writer2": w.people["writer2"],
            "invitation": w.tokens["invitation"], "reset": w.tokens["reset"]}


# Counting --------------------------------------------------------------------------------------


def origin(frame) -> str:
    """Where a statement comes from: the two innermost reviewflow frames, the templates it passed
    through (by template line) and the view, innermost first."""
    own: list[tuple[str, bool]] = []
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(OWN_CODE) and frame.f_code.co_name != "__call__":  # not the WSGI middleware
            template = frame.f_globals.get("__jinja_template__")
            line = template.get_corresponding_lineno(frame.f_lineno) if template else frame.f_lineno
            name = "" if template else f" in {frame.f_code.co_name}"
            own.append((f"{os.path.relpath(filename, ROOT)}:{line}{name}", template is not None))
        frame = frame.f_back
    picked = own[:2] + [step for step in own[2:] if step[1]][:2] + own[-1:]
    return " <- ".join(dict.fromkeys(where for where, _ in picked)) or "(outside reviewflow)"


_PARAMS = re.compile(r"\((?:\?|%\(\w+\)s)(?:, (?:\?|%\(\w+\)s))*\)")


def shape(statement: str) -> str:
    """The statement with an expanded ``IN (?, ?, …)`` folded, so one query with more ids is still one."""
    return _PARAMS.sub("(…)", " ".join(statement.split()))


@dataclass
class Measured:
    status: int = 0
    size: int = 0
    #: Statements sent, by (shape, origin).
    statements: Counter = field(default_factory=Counter)
    #: Lazy loads that emitted SQL, by "Model.relationship at origin".
    lazy: Counter = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.statements.values())


@contextmanager
def recorded() -> Iterator[Measured]:
    """Every statement sent to the database meanwhile, and every lazy load among them."""
    seen = Measured()

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.statements[(shape(statement), origin(sys._getframe(1)))] += 1

    def record_lazy(state) -> None:
        if state.is_select and state.lazy_loaded_from is not None:
            prop = state.loader_strategy_path.path[-1]
            seen.lazy[f"{prop.parent.class_.__name__}.{prop.key} at {origin(sys._getframe(1))}"] += 1

    event.listen(db.engine, "before_cursor_execute", record)
    event.listen(Session, "do_orm_execute", record_lazy)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        event.remove(Session, "do_orm_execute", record_lazy)


def measure(client, path: str, headers: dict) -> Measured:
    """One cold request, after a warm-up: empty public page cache, body read to the end, and a new
    session, as each real request gets. (``remove``, not ``close``: a closed session keeps its ``info``,
    where the policy memoises assignments, and would hand the warm-up's answers to the request.)"""
    client.get(path, headers=headers).close()
    pagecache.public_cache().clear()
    db.session.remove()
    with recorded() as seen:
        response = client.get(path, headers=headers)
        body = response.get_data()
        response.close()
    db.session.remove()
    seen.status, seen.size = response.status_code, len(body)
    return seen


def measure_all(w: World, clients: dict) -> dict[str, Measured]:
    values = fields(w)
    out = {}
    for case in CASES:
        headers = {"Authorization": f"Bearer {w.tokens[case.who]}"} if case.api and case.who else {}
        client = clients[None if case.api else case.who]
        out[case.id] = measure(client, case.path.format(**values), headers)
    return out


# The module's own app: built once, measured small and large ------------------------------------


def _fresh_app(tmp_path_factory) -> Flask:
    """An app on a fresh schema, as ``conftest.app`` makes one, but for the whole module."""
    return make_app(os.environ.get("REVIEWFLOW_TEST_DATABASE_URL")
                    or f"sqlite:///{tmp_path_factory.mktemp('budget') / 'test.db'}")


@pytest.fixture(scope="module")
def budget(tmp_path_factory) -> dict:
    """Counts for every case on the small and on the large data set, and the app's url map."""
    app = _fresh_app(tmp_path_factory)
    with app.app_context():
        empty_schema()
        try:
            w = build_people()
            clients = {None: app.test_client()}
            for who in {c.who for c in CASES if c.who and not c.api}:
                clients[who] = app.test_client()
                response = clients[who].post("/login", data={"email": w.person(who).email, "password": PASSWORD})
                assert response.status_code == 303, who
            start(w)
            grow(w, SMALL)
            small = measure_all(w, clients)
            grow(w, LARGE)
            large = measure_all(w, clients)
            rules = [(r.endpoint, r.methods) for r in app.url_map.iter_rules()]
            matched = {c.id: app.url_map.bind("localhost").match(c.path.split("?")[0].format(**fields(w)))[0]
                       for c in CASES}
        finally:
            db.session.remove()
            db.engine.dispose()
    return {"small": small, "large": large, "rules": rules, "matched": matched}


def growth(small: Measured, large: Measured, limit: int = 6) -> str:
    """The statements that ran more often on the large data set, most repeated first."""
    lines = []
    for (sql, where), n in sorted(large.statements.items(), key=lambda kv: small.statements[kv[0]] - kv[1]):
        before = small.statements[(sql, where)]
        if n > before and len(lines) < limit:
            lines.append(f"  {before} -> {n} times, from {where}:\n    {sql[:220]}")
    fewer = [k for k, n in small.statements.items() if n > large.statements[k]]
    if fewer:
        lines.append(f"  ({len(fewer)} statement(s) ran less often on the large set)")
    return "\n".join(lines)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_statement_count_does_not_grow_with_the_data(budget, case):
    small, large = budget["small"][case.id], budget["large"][case.id]
    assert (small.status, large.status) == (200, 200), (small.status, large.status)
    if case.grows:
        assert large.size > small.size, "the larger data set does not reach this page: the comparison proves nothing"
    assert small.count == large.count, (
        f"{case.path}: {small.count} statements on the small data set, {large.count} on the "
        f"{LARGE // SMALL}x one\n{growth(small, large)}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_no_lazy_load_on_the_page(budget, case):
    """Each request runs on a fresh session, so any lazy load is a relationship its queries left out:
    one query per object shown, which the conftest guard refuses in every other test too."""
    small, large = budget["small"][case.id], budget["large"][case.id]
    loads = sorted(set(small.lazy) | set(large.lazy))
    assert not loads, f"{case.path}: lazy loads (small -> large data set):\n" + "\n".join(
        f"  {small.lazy[k]} -> {large.lazy[k]}: {k}" for k in loads)


def test_every_get_page_and_endpoint_is_measured(budget):
    """A new GET page or API endpoint must join CASES (or EXCLUDED, with the reason)."""
    gets = {endpoint for endpoint, methods in budget["rules"] if "GET" in methods}
    assert gets - EXCLUDED.keys() == {c.endpoint for c in CASES}
    assert {c.id: c.endpoint for c in CASES} == budget["matched"]  # each path reaches the endpoint it names


# The N+1 guard of conftest.py ---------------------------------------------------------------------


def _three_articles(cast) -> None:
    for n in range(3):
        make_article(cast["writer"], title=f"Piece {n}")
    db.session.close()


def test_the_guard_fails_a_relationship_read_row_by_row(db, cast):
    _three_articles(cast)
    rows = db.session.scalars(select(Article).options(lazyload(Article.revision))).all()
    with pytest.raises(pytest.fail.Exception, match=r"lazy load of Article\.revision .*test_query_budget\.py"):
        [a.revision.body for a in rows]


def test_the_guard_lets_an_object_this_session_created_load_its_relationships(db, cast):
    article = articles.create_article(cast["writer"], "Fresh", BODY, "Sleep")  # flushed, never loaded
    with recorded() as seen:
        assert article.revision.number == 1
    assert list(seen.lazy) == ["Article.revision at (outside reviewflow)"]


def test_the_guard_lets_a_relationship_dropped_by_expire_load_again(db, cast):
    _three_articles(cast)
    article = db.session.scalars(select(Article)).first()
    db.session.expire(article, ["revision"])  # as save_revision does once it adds a revision
    with recorded() as seen:
        assert article.revision.number == 1
    assert list(seen.lazy) == ["Article.revision at (outside reviewflow)"]


def test_the_guard_lets_a_refresh_in_place_load_again_what_the_first_query_loaded(app, db):
    """The token's commit expires it and its person, who is then let go (nothing else holds it); reading
    ``token.user`` refreshes the token alone and loads the person anew, whose roles and profile the first
    query's loader options then load for that one person: one-offs, not an N+1."""
    plain = token_for(make_user("writer"))
    db.session.expunge_all()
    with app.test_request_context(), recorded() as seen:
        user = accounts.user_for_token(plain)
        assert user.roles == ["writer"] and user.profile is None
    assert sorted(where.split(" at ")[0] for where in seen.lazy) == ["User.profile", "User.role_rows"]


@pytest.mark.allow_lazy_load
def test_the_guard_can_be_turned_off_for_a_test(db, cast):
    _three_articles(cast)
    rows = db.session.scalars(select(Article).options(lazyload(Article.revision))).all()
    with recorded() as seen:
        assert [a.revision.number for a in rows] == [1, 1, 1]
    assert seen.count == 3 and sum(seen.lazy.values()) == 3
