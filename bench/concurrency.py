"""Two app servers, one PostgreSQL database: concurrent writes through both, then proof nothing was lost.

Threads drive the JSON API through servers A and B at random:
- saves: a writer's ``POST /articles/{id}/revisions`` with ``base_revision`` from a fresh GET
  (several threads on the same few drafts, so stale bases are common and 409 is expected);
- decisions: reviewers sign approvals of in-review articles (their password is checked);
- publishes: two threads publish the same approved articles in the same order, one through
  each server, so each publish races its twin.
Afterwards every 201 must match a row (counted before and after, and each response looked up
by its key), no article may be left in a state its assignments contradict, and
``flask audit verify`` must pass. Also checked across the two servers: a session cookie from
A works on B, failed log-ins are counted across both (the slow-down after the free attempts), and a
publish or unpublish through A shows on B's public page within the two seconds PRODUCT.md allows.
"""
from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text

from bench import PASSWORD, USER_AGENT
from bench.dataset import CHECKLIST, token_of
from bench.servers import Server, run_flask
from bench.targets import csrf_token, login

STALENESS_LIMIT = 2.0


def api(base: str, method: str, path: str, token: str, body: dict | None = None, timeout: float = 60):
    """One JSON API call; returns (status, parsed JSON or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + "/api/v1" + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    except OSError as exc:
        return None, {"error": str(exc)}
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, None


def get_status(url: str, headers: dict | None = None) -> int | None:
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(req, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Tally:
    """Responses by kind and status, and the 201s with what identifies their row."""

    statuses: dict[str, Counter] = field(default_factory=dict)
    created: dict[str, list] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status, created=None, error: str | None = None) -> None:
        with self.lock:
            self.statuses.setdefault(kind, Counter())[str(status)] += 1
            if created is not None:
                self.created.setdefault(kind, []).append(created)
            if error and len(self.errors) < 20:
                self.errors.append(error)


def _subjects(conn) -> dict:
    q = lambda sql, **kw: conn.execute(text(sql), kw).all()  # noqa: E731
    drafts = q("SELECT id, writer_id FROM articles WHERE state = 'draft' AND live_version IS NULL "
               "ORDER BY id DESC LIMIT 6")
    review_rows = q("SELECT a.id, ra.reviewer_id, ra.status FROM articles a "
                    "JOIN review_assignments ra ON ra.article_id = a.id "
                    "WHERE a.state = 'in_review' AND a.live_version IS NULL AND ra.status <> 'withdrawn' "
                    "AND NOT EXISTS (SELECT 1 FROM annotations n WHERE n.article_id = a.id AND n.status = 'open' "
                    "AND n.blocking) ORDER BY a.id DESC LIMIT 60")
    reviewing: dict[int, list[int]] = {}
    decided: set[int] = set()
    for article_id, reviewer_id, status in review_rows:
        reviewing.setdefault(article_id, []).append(reviewer_id)
        if status != "pending":
            decided.add(article_id)
    # Submitted articles that get three reviewers each, who then approve at the same moment through
    # both servers (_simultaneous_approvals).
    submitted = [r[0] for r in q("SELECT id FROM articles WHERE state = 'submitted' ORDER BY id DESC LIMIT 4")]
    trio = [r[0] for r in q(
        "SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id AND r.role = 'reviewer' "
        "JOIN reviewer_profiles p ON p.user_id = u.id AND p.version = u.profile_version "
        "WHERE p.verified_at IS NOT NULL AND p.license_expires > CURRENT_DATE ORDER BY u.id LIMIT 3")]
    together = {a: trio for a in submitted} if len(trio) == 3 else {}
    approved = [r[0] for r in q("SELECT id FROM articles WHERE state = 'approved' AND live_version IS NULL "
                                "ORDER BY id DESC LIMIT 13")]
    editors = [r[0] for r in q("SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id "
                               "WHERE r.role = 'editor' ORDER BY u.id LIMIT 2")]
    return {"drafts": drafts, "reviewing": dict(list(reviewing.items())[:24]), "approved": approved,
            "editors": editors, "together": together}


COUNT_TABLES = ("revisions", "decisions", "published_versions", "audit_events")


def _counts(conn) -> dict[str, int]:
    return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in COUNT_TABLES}


def run(database_url: str, log_dir, seconds: float, log=print) -> dict:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        subjects = _subjects(conn)
        before = _counts(conn)
    reserved = subjects["approved"][:1]  # kept for the staleness check
    publish_list = subjects["approved"][1:]
    editor_a, editor_b = (subjects["editors"] + subjects["editors"])[:2]
    tally = Tally()
    a = Server("app-A", "reviewflow:create_app()", database_url).start(log_dir, ready_path="/login")
    b = Server("app-B", "reviewflow:create_app()", database_url).start(log_dir, {a.port}, ready_path="/login")
    servers = [a.base, b.base]
    result: dict = {"servers": [a.base, b.base], "workers_per_server": a.workers}
    try:
        deadline = time.monotonic() + seconds
        threads = []
        for i in range(4):
            threads.append(threading.Thread(target=_saver, args=(i, subjects["drafts"], servers, deadline, tally)))
        reviewing = list(subjects["reviewing"].items())
        for i in range(2):
            share = reviewing[i::2]
            threads.append(threading.Thread(target=_decider, args=(i, share, servers, deadline, tally)))
        for i, (editor, base) in enumerate(((editor_a, a.base), (editor_b, b.base))):
            threads.append(threading.Thread(target=_publisher, args=(i, editor, base, publish_list,
                                                                     list(subjects["reviewing"]), deadline, tally)))
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 120)
        result["seconds"] = round(time.monotonic() - started, 1)
        result["together"] = _simultaneous_approvals(servers, subjects["together"], editor_a, tally)
        result["cross_server"] = _cross_server_checks(a.base, b.base, reserved, editor_a, database_url, tally)
    finally:
        a.stop()
        b.stop()
    with engine.connect() as conn:
        after = _counts(conn)
        result.update(_check(conn, tally, before, after, subjects))
    engine.dispose()
    verify = run_flask(["audit", "verify"], database_url, timeout=1800)
    result["audit_verify"] = {"exit": verify.returncode, "output": (verify.stdout.strip() or verify.stderr.strip())
                              .splitlines()[0][:300]}
    result["statuses"] = {k: dict(v) for k, v in tally.statuses.items()}
    result["errors"] = tally.errors
    result["server_errors"] = sum(n for kind in tally.statuses.values() for st, n in kind.items()
                                  if st.startswith("5") or st.startswith("GET 5"))
    with engine.connect() as conn:
        states = {a: conn.execute(text("SELECT state FROM articles WHERE id = :a"), {"a": a}).scalar_one()
                  for a in subjects["together"]}
    engine.dispose()
    together = result["together"]
    together["not_approved"] = sorted(a for a, s in states.items() if s != "approved")
    together["ok"] = not together["not_approved"] and together["signed"] == together["asked"]
    result["ok"] = (result["lost"] == {} and not result["phantom"] and not result["inconsistent"]
                    and verify.returncode == 0 and result["cross_server"]["ok"] and together["ok"])
    return result


def _simultaneous_approvals(servers, together: dict[int, list[int]], editor_id: int, tally: Tally) -> dict:
    """An editor assigns three reviewers to each article; then they approve at the same moment,
    alternately through A and B: each decision must be recorded and the article must end approved
    (the row lock makes the last transaction see the others' approvals)."""
    asked = signed = 0
    for article_id, reviewer_ids in together.items():
        for k, reviewer_id in enumerate(reviewer_ids):
            status, out = api(servers[k % 2], "POST", f"/articles/{article_id}/assignments", token_of(editor_id),
                              {"reviewer_id": reviewer_id})
            if status != 201:
                tally.add("assign", status, error=f"assign {reviewer_id} to {article_id}: {status} {out}")
        barrier = threading.Barrier(len(reviewer_ids))
        outcomes: list[int] = []

        def sign(k: int, reviewer_id: int, article_id: int = article_id, barrier=barrier, outcomes=outcomes):
            token = token_of(reviewer_id)
            status, art = api(servers[k % 2], "GET", f"/articles/{article_id}", token)
            barrier.wait(timeout=60)
            status, out = api(servers[k % 2], "POST", f"/articles/{article_id}/decisions", token,
                              {"revision": art["revision"]["number"], "decision": "approve", "password": PASSWORD,
                               "checklist": CHECKLIST})
            outcomes.append(status)
            if status == 201:
                tally.add("decision", 201, (article_id, reviewer_id, out["revision"], out["signed_at"]))
            else:
                tally.add("decision", status, error=f"simultaneous approval of {article_id}: {status} {out}")

        threads = [threading.Thread(target=sign, args=(k, r)) for k, r in enumerate(reviewer_ids)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        asked += len(reviewer_ids)
        signed += outcomes.count(201)
    return {"articles": len(together), "asked": asked, "signed": signed}


def _saver(i: int, drafts, servers, deadline: float, tally: Tally) -> None:
    rng = random.Random(100 + i)
    for n in range(100_000):
        if time.monotonic() >= deadline:
            return
        article_id, writer_id = rng.choice(drafts)
        token = token_of(writer_id)
        status, art = api(rng.choice(servers), "GET", f"/articles/{article_id}", token)
        if status != 200:
            tally.add("save", f"GET {status}", error=f"GET article {article_id}: {status} {art}")
            continue
        base_rev = art["revision"]["number"]
        title = art["title"]
        body = art["revision"]["body"].rstrip() + f"\n\nEdit {i}-{n} from thread {i}.\n"
        status, out = api(rng.choice(servers), "POST", f"/articles/{article_id}/revisions", token,
                          {"title": title, "body": body, "base_revision": base_rev, "note": f"bench {i}-{n}"})
        if status == 201:
            tally.add("save", 201, (article_id, out["revision"]["number"], out["revision"]["content_hash"]))
        else:
            tally.add("save", status, error=None if status == 409 else f"save {article_id}: {status} {out}")


def _decider(i: int, share, servers, deadline: float, tally: Tally) -> None:
    rng = random.Random(200 + i)
    for article_id, reviewer_ids in share:
        for reviewer_id in reviewer_ids:
            if time.monotonic() >= deadline:
                return
            token = token_of(reviewer_id)
            status, art = api(rng.choice(servers), "GET", f"/articles/{article_id}", token)
            if status != 200:
                tally.add("decision", f"GET {status}", error=f"GET article {article_id}: {status} {art}")
                continue
            status, out = api(rng.choice(servers), "POST", f"/articles/{article_id}/decisions", token,
                              {"revision": art["revision"]["number"], "decision": "approve", "password": PASSWORD,
                               "comment": "", "checklist": CHECKLIST})
            if status == 201:
                tally.add("decision", 201, (article_id, reviewer_id, out["revision"], out["signed_at"]))
            else:
                tally.add("decision", status, error=None if status == 409 else f"decide {article_id}: {status} {out}")


def _publisher(i: int, editor_id: int, base: str, approved: list[int], decided: list[int], deadline: float,
               tally: Tally) -> None:
    """Publish the approved articles in order (racing the twin thread on the other server), then any
    article the deciders brought to approval."""
    token = token_of(editor_id)
    pending = list(approved)
    for _ in range(10_000):
        if not pending:
            pending = list(decided)
            decided = []
            if not pending:
                return
        if time.monotonic() >= deadline:
            return
        article_id = pending.pop(0)
        status, art = api(base, "GET", f"/articles/{article_id}", token)
        if status == 200 and art.get("state") == "in_review" and time.monotonic() < deadline - 1:
            pending.append(article_id)  # a decider may still approve it: look again later
            time.sleep(0.2)
            continue
        if status != 200 or art.get("state") != "approved":
            continue
        status, out = api(base, "POST", f"/articles/{article_id}/publish", token,
                          {"revision": art["revision"]["number"], "change_note": f"bench publisher {i}"})
        if status == 201:
            tally.add("publish", 201, (article_id, out["version"]))
        else:
            tally.add("publish", status, error=None if status == 409 else f"publish {article_id}: {status} {out}")


def _check(conn, tally: Tally, before: dict, after: dict, subjects: dict) -> dict:
    """Every 201 has its row; row counts grew by exactly the 201s; states agree with assignments."""
    created = {k: len(tally.created.get(k, [])) for k in ("save", "decision", "publish")}
    grown = {t: after[t] - before[t] for t in COUNT_TABLES}
    expected = {"revisions": created["save"], "decisions": created["decision"],
                "published_versions": created["publish"]}
    lost, phantom = {}, {}
    for table, n in expected.items():
        # re-reviews can add published versions on their own; nothing else writes during the test
        if grown[table] < n:
            lost[table] = n - grown[table]
        elif grown[table] > n:
            phantom[table] = grown[table] - n
    missing = []
    for article_id, number, digest in tally.created.get("save", []):
        row = conn.execute(text("SELECT content_hash FROM revisions WHERE article_id = :a AND number = :n"),
                           {"a": article_id, "n": number}).first()
        if row is None or row[0] != digest:
            missing.append(f"revision {number} of article {article_id}")
    for article_id, reviewer_id, number, _signed in tally.created.get("decision", []):
        row = conn.execute(text("SELECT 1 FROM decisions WHERE article_id = :a AND reviewer_id = :r "
                                "AND revision_number = :n AND decision = 'approve'"),
                           {"a": article_id, "r": reviewer_id, "n": number}).first()
        if row is None:
            missing.append(f"decision of reviewer {reviewer_id} on article {article_id}")
    for article_id, version in tally.created.get("publish", []):
        row = conn.execute(text("SELECT 1 FROM published_versions WHERE article_id = :a AND version = :v"),
                           {"a": article_id, "v": version}).first()
        if row is None:
            missing.append(f"version {version} of article {article_id}")
    if missing:
        lost["responses_without_row"] = len(missing)
    touched = sorted({a for a, _ in subjects["drafts"]} | set(subjects["reviewing"]) | set(subjects["approved"]))
    inconsistent = []
    for article_id in touched:
        art = conn.execute(text("SELECT state, current_revision, live_version FROM articles WHERE id = :a"),
                           {"a": article_id}).first()
        numbers = [r[0] for r in conn.execute(text("SELECT number FROM revisions WHERE article_id = :a "
                                                   "ORDER BY number"), {"a": article_id})]
        if numbers != list(range(1, len(numbers) + 1)) or numbers[-1] != art.current_revision:
            inconsistent.append(f"article {article_id}: revisions {numbers[:3]}… current {art.current_revision}")
        statuses = [r[0] for r in conn.execute(text(
            "SELECT ra.status FROM review_assignments ra WHERE ra.article_id = :a AND ra.status <> 'withdrawn'"),
            {"a": article_id})]
        if art.state == "in_review" and statuses and all(s == "approved" for s in statuses):
            inconsistent.append(f"article {article_id}: every reviewer approved but the state is still in_review")
        versions = [r[0] for r in conn.execute(text("SELECT version FROM published_versions WHERE article_id = :a "
                                                    "ORDER BY version"), {"a": article_id})]
        if versions != list(range(1, len(versions) + 1)):
            inconsistent.append(f"article {article_id}: published versions {versions}")
    return {"before": before, "after": after, "grown": grown, "created_201": created, "lost": lost,
            "phantom": phantom, "missing": missing[:10], "inconsistent": inconsistent[:10],
            "articles_checked": len(touched)}


def _cross_server_checks(a: str, b: str, reserved: list[int], editor_id: int, database_url: str,
                         tally: Tally) -> dict:
    """Session, log-in throttling and public-page staleness across the two servers."""
    out: dict = {}
    engine = create_engine(database_url)
    with engine.connect() as conn:
        editor_email = conn.execute(text("SELECT email FROM users WHERE id = :i"), {"i": editor_id}).scalar_one()
        slug = conn.execute(text("SELECT slug FROM articles WHERE id = :i"), {"i": reserved[0]}).scalar_one() \
            if reserved else None
    engine.dispose()
    cookie = login(a, editor_email)
    out["session_from_A_on_B"] = get_status(b + "/dashboard", {"Cookie": cookie})
    out["throttle"] = _throttle_check(a, b)
    if slug:
        out["staleness"] = _staleness_check(a, b, reserved[0], slug, token_of(editor_id), tally)
    out["ok"] = (out["session_from_A_on_B"] == 200 and out["throttle"]["ok"]
                 and (not slug or out["staleness"]["ok"]))
    return out


def _throttle_check(a: str, b: str) -> dict:
    """Failed log-ins alternate between A and B: the slow-down must start after the free attempts of the
    (account, address) pair in total (``LOGIN_FREE_ATTEMPTS``), whichever server counted them."""
    import http.cookiejar

    import config
    free = config.Config.LOGIN_FREE_ATTEMPTS
    email = f"nobody-{random.randrange(10**9)}@bench.example.org"
    statuses = []
    for attempt in range(free + 1):
        base = (a, b)[attempt % 2]
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
        opener.addheaders = [("User-Agent", USER_AGENT)]
        with opener.open(base + "/login", timeout=30) as resp:
            token = csrf_token(resp.read().decode())
        data = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": "wrong-password-123"})
        try:
            with opener.open(base + "/login", data=data.encode(), timeout=60) as resp:
                statuses.append(resp.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
    return {"statuses_alternating_A_B": statuses, "ok": statuses[:free] == [200] * free and statuses[free] == 429}


def _staleness_check(a: str, b: str, article_id: int, slug: str, token: str, tally: Tally) -> dict:
    """Warm B's caches with the 404, publish through A, time until B serves it; then the same for unpublish."""
    out: dict = {"article_id": article_id}
    page, api_url = f"{b}/articles/{slug}", f"{b}/api/v1/published/{slug}"
    for _ in range(3):
        out["before_page"], out["before_api"] = get_status(page), get_status(api_url)
    status, art = api(a, "GET", f"/articles/{article_id}", token)
    status, pub = api(a, "POST", f"/articles/{article_id}/publish", token,
                      {"revision": art["revision"]["number"], "change_note": "bench staleness check"})
    out["publish_status"] = status
    tally.add("publish", status, (article_id, pub["version"]) if status == 201 else None)
    if status != 201:
        out["ok"] = False
        return out
    out["publish_lag_s"] = _wait_for(lambda: get_status(page) == 200 and get_status(api_url) == 200)
    status, _ = api(a, "POST", f"/articles/{article_id}/unpublish", token, {"reason": "bench staleness check"})
    out["unpublish_status"] = status
    out["unpublish_lag_s"] = _wait_for(lambda: get_status(page) == 410 and get_status(api_url) == 410)
    lags = [out["publish_lag_s"], out["unpublish_lag_s"]]
    out["ok"] = all(x is not None and x <= STALENESS_LIMIT for x in lags)
    return out


def _wait_for(condition, limit: float = 10.0) -> float | None:
    started = time.monotonic()
    for _ in range(1000):
        if condition():
            return round(time.monotonic() - started, 3)
        if time.monotonic() - started > limit:
            return None
        time.sleep(0.05)
    return None


def summary_lines(r: dict) -> list[str]:
    """Markdown lines for the report."""
    lines = [f"Two gunicorn servers ({r['workers_per_server']} sync workers each) on one PostgreSQL database, "
             f"writes for {r.get('seconds', '?')} s through both at random.", ""]
    lines.append("| Kind | Responses by status | 201s | Rows added |")
    lines.append("|---|---|---:|---:|")
    rows_of = {"save": "revisions", "decision": "decisions", "publish": "published_versions"}
    for kind, table in rows_of.items():
        st = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].get(kind, {}).items()))
        lines.append(f"| {kind} | {st or '—'} | {r['created_201'][kind]} | {r['grown'][table]} |")
    lines.append("")
    verdict = "no update lost" if not r["lost"] and not r["missing"] else f"LOST: {r['lost']} {r['missing']}"
    lines.append(f"- Every 201 has its row: **{verdict}**"
                 + (f"; rows without a 201: {r['phantom']}" if r["phantom"] else "") + ".")
    lines.append(f"- Consistency of the {r['articles_checked']} articles written to: "
                 + ("revisions numbered without gaps, versions in order, states agree with assignments."
                    if not r["inconsistent"] else "PROBLEMS: " + "; ".join(r["inconsistent"])))
    lines.append(f"- Audit events added: {r['grown']['audit_events']}; `flask audit verify` afterwards: "
                 f"exit {r['audit_verify']['exit']}, “{r['audit_verify']['output']}”")
    tg = r.get("together")
    if tg:
        lines.append(f"- Simultaneous approvals through both servers: {tg['signed']} of {tg['asked']} signatures "
                     f"recorded on {tg['articles']} articles; "
                     + ("every one of them ended approved." if tg["ok"] else
                        f"NOT approved: {tg['not_approved']}."))
    cs = r["cross_server"]
    lines.append(f"- A session cookie from server A on B's /dashboard: {cs['session_from_A_on_B']}.")
    th = cs["throttle"]
    lines.append(f"- Failed log-ins alternating A, B, A, …: statuses {th['statuses_alternating_A_B']} "
                 f"({'the slow-down counts across servers' if th['ok'] else 'NOT shared across servers'}).")
    if "staleness" in cs:
        s = cs["staleness"]
        lines.append(f"- Publish through A, B's public page and API before: {s.get('before_page')}/"
                     f"{s.get('before_api')}; serving it after {s.get('publish_lag_s')} s; unpublish through A, "
                     f"B answers 410 after {s.get('unpublish_lag_s')} s (limit {STALENESS_LIMIT} s).")
    if r.get("server_errors"):
        lines.append(f"- **{r['server_errors']} answers were 500s**: a write that loses a race is refused with "
                     "an error instead of a 409 (no row is written, so nothing is lost, but the client is told "
                     "“something went wrong” rather than “stale”).")
    if r["errors"]:
        lines.append("- Unexpected responses (first few): " + "; ".join(f"`{e[:160]}`" for e in r["errors"][:5]))
    lines.append(f"- Verdict on lost updates and shared state: **{'PASS' if r['ok'] else 'FAIL'}**")
    return lines
