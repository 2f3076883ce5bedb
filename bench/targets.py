"""What the benchmark measures: the pages and endpoints, the people it signs in as, and log-in over HTTP.

The concrete article, slug and reviewer are found by querying the built database (so
``--skip-load`` works on a database built earlier): the reviewer with the most open
reviews, their in-review article with the most annotations, the published article with
the longest version history. API tokens are derived from user ids (``dataset.token_of``).
"""
from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text

from bench import PASSWORD, USER_AGENT
from bench.dataset import token_of


@dataclass
class Account:
    id: int
    email: str
    role: str

    @property
    def token(self) -> str:
        return token_of(self.id)


@dataclass
class Handles:
    """The concrete subjects of the targets, found in the database."""

    editor: Account
    reviewer: Account
    review_article_id: int
    public_slug: str
    public_article_id: int
    public_versions: int
    reviewer_open_reviews: int
    audit_article_events: int
    counts: dict[str, int] = field(default_factory=dict)
    #: Every live article's slug: readers read many pages, not one.
    live_slugs: list[str] = field(default_factory=list)
    #: Every page of the article list (``/articles``, then ``?before=`` cursors), found by following the pages.
    index_pages: list[str] = field(default_factory=list)


COUNTED = ["users", "articles", "revisions", "review_assignments", "annotations", "annotation_replies", "decisions",
           "published_versions", "published_reviews", "notifications", "audit_events"]


def discover(database_url: str) -> Handles:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            one = lambda sql, **kw: conn.execute(text(sql), kw).first()  # noqa: E731
            editor = one("SELECT u.id, u.email FROM users u JOIN user_roles r ON r.user_id = u.id "
                         "WHERE r.role = 'editor' AND u.active ORDER BY u.id LIMIT 1")
            busiest = one("SELECT ra.reviewer_id, COUNT(*) FROM review_assignments ra "
                          "JOIN articles a ON a.id = ra.article_id "
                          "WHERE ra.status IN ('pending', 'changes_requested') "
                          "AND a.state IN ('in_review', 'changes_requested') "
                          "GROUP BY ra.reviewer_id ORDER BY COUNT(*) DESC, ra.reviewer_id LIMIT 1")
            reviewer = one("SELECT id, email FROM users WHERE id = :id", id=busiest[0])
            article = one("SELECT a.id FROM articles a JOIN review_assignments ra ON ra.article_id = a.id "
                          "AND ra.reviewer_id = :r AND ra.status = 'pending' WHERE a.state = 'in_review' "
                          "ORDER BY (SELECT COUNT(*) FROM annotations n WHERE n.article_id = a.id) DESC, a.id DESC "
                          "LIMIT 1", r=reviewer[0])
            public = one("SELECT a.slug, a.id, a.live_version FROM articles a WHERE a.live_version IS NOT NULL "
                         "AND a.state = 'published' ORDER BY a.live_version DESC, "
                         "(SELECT COUNT(*) FROM review_assignments ra WHERE ra.article_id = a.id) DESC, a.id DESC "
                         "LIMIT 1")
            events = one("SELECT COUNT(*) FROM audit_events WHERE article_id = :a", a=public[1])[0]
            counts = {name: conn.execute(text(f"SELECT COUNT(*) FROM {name}")).scalar_one() for name in COUNTED}
            slugs = [r[0] for r in conn.execute(text(
                "SELECT slug FROM articles WHERE live_version IS NOT NULL AND state = 'published' ORDER BY id"))]
    finally:
        engine.dispose()
    return Handles(
        editor=Account(editor[0], editor[1], "editor"), reviewer=Account(reviewer[0], reviewer[1], "reviewer"),
        review_article_id=article[0], public_slug=public[0], public_article_id=public[1],
        public_versions=public[2], reviewer_open_reviews=busiest[1], audit_article_events=events, counts=counts,
        live_slugs=slugs,
    )


@dataclass
class Target:
    """One page or endpoint under load. ``auth``: None, "editor", "reviewer" (session cookie) or "token"."""

    key: str
    label: str
    path: str
    auth: str | None = None
    server: str = "app"
    staff: bool = False
    #: When set, each request asks for one of these, uniformly at random (``path`` is the first, for probes).
    paths: list[str] | None = None


def targets_for(h: Handles) -> list[Target]:
    return [
        Target("hello", "Hello world (ceiling)", "/", server="hello"),
        Target("public_article", "Public article page", f"/articles/{h.public_slug}"),
        Target("public_random", f"Public article, random of {len(h.live_slugs):,} live",
               f"/articles/{h.live_slugs[0]}" if h.live_slugs else f"/articles/{h.public_slug}",
               paths=[f"/articles/{s}" for s in h.live_slugs] or None),
        Target("hello_random", f"Hello world, random of {len(h.live_slugs):,} paths (same wrk script)",
               f"/articles/{h.live_slugs[0]}" if h.live_slugs else "/", server="hello",
               paths=[f"/articles/{s}" for s in h.live_slugs] or None),
        Target("articles", "Published list /articles", "/articles"),
        Target("articles_random", f"Published list, random of {len(h.index_pages):,} pages", "/articles",
               paths=h.index_pages or None),
        Target("review_queue", "Reviewer's queue /reviews", "/reviews", auth="reviewer", staff=True),
        Target("dashboard", "Editor's dashboard", "/dashboard", auth="editor", staff=True),
        Target("review_page", "Review page (assigned reviewer)", f"/work/articles/{h.review_article_id}/review",
               auth="reviewer", staff=True),
        Target("audit_article", "Audit log, one article", f"/audit?article={h.public_article_id}", auth="editor",
               staff=True),
        Target("api_article", "GET /api/v1/articles/{id}", f"/api/v1/articles/{h.review_article_id}", auth="token"),
        Target("api_published", "GET /api/v1/published/{slug}", f"/api/v1/published/{h.public_slug}"),
    ]


# Log-in over HTTP, with urllib -------------------------------------------------------------------

CSRF_RE = re.compile(r"<input[^>]*name=\"csrf_token\"[^>]*>")
VALUE_RE = re.compile(r"value=\"([^\"]+)\"")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class LoginFailed(RuntimeError):
    pass


def csrf_token(html: str) -> str:
    tag = CSRF_RE.search(html)
    value = VALUE_RE.search(tag.group(0)) if tag else None
    if value is None:
        raise LoginFailed("no csrf_token hidden input on /login")
    return value.group(1)


def login(base: str, email: str, password: str = PASSWORD) -> str:
    """Sign in through the real form (GET /login, read the CSRF token, POST); returns a Cookie header value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    opener.addheaders = [("User-Agent", USER_AGENT)]
    with opener.open(base + "/login", timeout=30) as resp:
        token = csrf_token(resp.read().decode("utf-8", "replace"))
    data = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": password}).encode()
    try:
        with opener.open(base + "/login", data=data, timeout=60) as resp:
            status, body = resp.status, resp.read()[:300]
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()[:300]
    if status not in (302, 303):
        raise LoginFailed(f"log-in of {email} answered {status}: {body!r}")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def headers_for(target: Target, cookies: dict[str, str], tokens: dict[str, str]) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if target.auth in ("editor", "reviewer"):
        headers["Cookie"] = cookies[target.auth]
    elif target.auth == "token":
        headers["Authorization"] = f"Bearer {tokens['editor']}"
    return headers


def probe(base: str, target: Target, headers: dict[str, str]) -> dict:
    """One request: status, size, and the caching headers, to report next to the figures."""
    req = urllib.request.Request(base + target.path, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=60) as resp:
            body, status, hdrs = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        body, status, hdrs = exc.read(), exc.code, exc.headers
    except OSError as exc:
        return {"status": None, "error": str(exc)}
    return {"status": status, "bytes": len(body), "etag": hdrs.get("ETag"), "cache_control": hdrs.get("Cache-Control"),
            "location": hdrs.get("Location"), "set_cookie": bool(hdrs.get("Set-Cookie"))}


NEXT_RE = re.compile(r'href="(/articles\?before=[^"]+)"[^>]*rel="next"')


def index_pages(base: str, limit: int = 2000) -> list[str]:
    """Every page of ``/articles``, following its "Next" links (at most ``limit`` pages)."""
    pages, path = [], "/articles"
    while path and len(pages) < limit:
        pages.append(path)
        with urllib.request.urlopen(urllib.request.Request(base + path, headers={"User-Agent": USER_AGENT}),
                                    timeout=60) as resp:
            html = resp.read().decode("utf-8", "replace")
        found = NEXT_RE.search(html)
        path = found.group(1).replace("&amp;", "&") if found else None
    return pages
