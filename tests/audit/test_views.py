"""The audit pages: the global log (access, filters, keyset pages), event records, the per-article
timeline, exports that round-trip, verification on demand, and every action said in plain words."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from reviewflow.articles import services as articles
from reviewflow.audit import queries
from reviewflow.audit import services as audit
from reviewflow.audit.actions import AuditAction
from reviewflow.audit.models import AuditEvent, AuditVerification
from reviewflow.audit.services import FIELDS
from reviewflow.extensions import utcnow
from tests.factories import BODY, make_article

SEQ = re.compile(r'data-seq="(\d+)"')


def seqs(response) -> list[int]:
    return [int(s) for s in SEQ.findall(response.get_data(as_text=True))]


def all_events(db, **where) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq)
    for name, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, name) == value)
    return list(db.session.scalars(stmt))


@pytest.fixture
def published(cast):
    return make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])


# Access ---------------------------------------------------------------------------

@pytest.mark.parametrize("who, status", [("editor", 200), ("admin", 200), ("writer", 403), ("rev", 403)])
def test_global_log_is_for_editors_and_admins(cast, login, client, who, status):
    login(cast[who])
    assert client.get("/audit").status_code == status
    assert client.get("/audit/export?format=csv").status_code == status


def test_anonymous_visitors_are_sent_to_log_in(client, published):
    for path in ("/audit", "/audit/export?format=jsonl", "/audit/events/1", f"/work/articles/{published.id}/audit"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


# The global log ------------------------------------------------------------------------

def test_log_lists_newest_first_in_plain_words(cast, login, client, published, db):
    login(cast["editor"])
    response = client.get("/audit")
    html = response.get_data(as_text=True)
    shown = seqs(response)
    events = all_events(db)
    assert shown == [e.seq for e in reversed(events)][:50]
    signed = all_events(db, action="decision.signed")[0]
    assert "Dana Okafor, M.D., Ph.D. (reviewer) approved “Eczema in winter” revision 1 (sha256 " in html
    assert f"sha256 {signed.content_hash[:4]}…{signed.content_hash[-4:]}" in html
    assert "Eddie Marsh (editor) published “Eczema in winter” revision 1" in html
    assert f'href="/audit/events/{signed.seq}"' in html
    assert 'href="/audit/export?format=csv"' in html and 'href="/audit/export?format=jsonl"' in html


def test_filter_by_action_person_article_and_dates(app, cast, login, client, published, db):
    other = make_article(cast["writer2"], "submitted", title="Hay fever at night")
    login(cast["editor"])

    shown = seqs(client.get("/audit?action=decision.signed"))
    assert shown == [e.seq for e in all_events(db, action="decision.signed")]

    shown = seqs(client.get("/audit?person=okaf"))  # part of a name, any case
    assert shown and shown == [e.seq for e in reversed(all_events(db)) if "Okafor" in e.actor_name]
    shown = seqs(client.get(f"/audit?person={cast['writer2'].id}"))  # an id
    assert shown == [e.seq for e in reversed(all_events(db, actor_id=cast["writer2"].id))]

    shown = seqs(client.get(f"/audit?person={cast['writer2'].email.upper()}"))  # part of an email
    assert shown == [e.seq for e in reversed(all_events(db, actor_id=cast["writer2"].id))]
    app.test_client().post("/login", data={"email": "nobody@example.org", "password": "wrong-password-here"})
    assert all_events(db, action="auth.login_failed")
    shown = seqs(client.get("/audit?person=unknown"))  # matches nobody's name: the recorded name is searched
    assert shown == [e.seq for e in all_events(db, action="auth.login_failed")]

    shown = seqs(client.get(f"/audit?article={other.id}"))
    assert shown == [e.seq for e in reversed(all_events(db, article_id=other.id))]
    shown = seqs(client.get(f"/audit?article={published.id}&action=article.published"))
    assert shown == [e.seq for e in all_events(db, article_id=published.id, action="article.published")]

    today = utcnow().date()
    assert len(seqs(client.get(f"/audit?from={today}&to={today}"))) == min(50, len(all_events(db)))
    assert seqs(client.get(f"/audit?from={today + timedelta(days=1)}")) == []
    assert seqs(client.get(f"/audit?to={today - timedelta(days=1)}")) == []


def test_action_filter_offers_the_actions_present(cast, login, client, published, db):
    login(cast["admin"])
    html = client.get("/audit").get_data(as_text=True)
    present = sorted({e.action for e in all_events(db)})
    assert queries.distinct_actions() == present
    for action in present:
        assert f'<option value="{action}"' in html


def test_bad_filter_values_are_explained_not_guessed(cast, login, client, published):
    login(cast["editor"])
    response = client.get("/audit?article=abc&from=yesterday")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The article must be given by its number" in html and "YYYY-MM-DD" in html
    assert client.get("/audit/export?format=csv&article=abc").status_code == 400
    assert client.get("/audit?before=zzz").status_code == 200  # a bad cursor is the first page


def test_keyset_pages_of_fifty_cover_everything_once(cast, login, client, db):
    for _ in range(70):
        audit.record("auth.login", actor=cast["writer"], role="writer", target=cast["writer"])
    db.session.commit()
    login(cast["editor"])  # one more event
    newest = [e.seq for e in reversed(all_events(db))]

    first = client.get("/audit")
    page1 = seqs(first)
    assert page1 == newest[:50]
    assert f"before={page1[-1]}" in first.get_data(as_text=True)
    second = client.get(f"/audit?before={page1[-1]}")
    page2 = seqs(second)
    assert page2 == newest[50:100]
    assert "before=" not in second.get_data(as_text=True).split('class="pagination"')[1]  # no older page
    assert f"after={page2[0]}" in second.get_data(as_text=True)
    back = client.get(f"/audit?after={page2[0]}")
    assert seqs(back) == page1

    person = cast["writer"].id
    filtered = seqs(client.get(f"/audit?person={person}&before={newest[10]}"))
    assert filtered == [e.seq for e in reversed(all_events(db, actor_id=person)) if e.seq < newest[10]][:50]


def test_log_page_makes_the_same_number_of_queries_whatever_the_size(cast, login, client, app, db):
    login(cast["editor"])
    make_article(cast["writer"], "draft")

    def queries_for(path: str) -> int:
        db.session.commit()  # a fresh session state for each measure
        count = 0

        def _count(*_args, **_kw):
            nonlocal count
            count += 1

        sa_event.listen(db.engine, "before_cursor_execute", _count)
        try:
            assert client.get(path).status_code == 200
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", _count)
        return count

    small = queries_for("/audit")
    for _ in range(120):
        audit.record("auth.login", actor=cast["rev"], role="reviewer", target=cast["rev"])
    db.session.commit()
    for title in ("Hay fever at night", "Sunscreen for toddlers", "Iron and fatigue"):
        make_article(cast["writer2"], "submitted", title=title)
    assert queries_for("/audit") == small
    assert queries_for("/audit?person=Dana") <= small  # no article on the page: no title lookup
    assert queries_for("/audit?action=article.submitted") == small


# Event records -------------------------------------------------------------------

def test_event_record_shows_every_field(cast, login, client, published, db):
    signed = all_events(db, action="decision.signed")[0]
    login(cast["editor"])
    html = client.get(f"/audit/events/{signed.seq}").get_data(as_text=True)
    for value in (signed.hash, signed.prev_hash, signed.content_hash, signed.key_id, signed.request_id,
                  "decision.signed", signed.actor_name, "in_review", "approved",
                  "&#34;decision&#34;: &#34;approve&#34;"):
        assert value.replace("_", " ") in html or value in html, value
    assert client.get("/audit/events/999999").status_code == 404
    assert client.get("/audit/events/99999999999").status_code == 404


def test_event_record_follows_the_article_rule(cast, login, client, published, db):
    on_article = all_events(db, article_id=published.id)[0]
    login_event = all_events(db, action="account.created")[0]
    login(cast["writer"])
    assert client.get(f"/audit/events/{on_article.seq}").status_code == 200
    assert client.get(f"/audit/events/{login_event.seq}").status_code == 403
    client.post("/logout")
    login(cast["writer2"])
    assert client.get(f"/audit/events/{on_article.seq}").status_code == 403


# The per-article timeline ---------------------------------------------------------------

def test_article_timeline_oldest_first_for_its_staff(cast, login, client, published, db):
    events = all_events(db, article_id=published.id)
    login(cast["writer"])
    response = client.get(f"/work/articles/{published.id}/audit")
    assert response.status_code == 200
    assert seqs(response) == [e.seq for e in events]
    html = response.get_data(as_text=True)
    created = html.index("Wren Alder (writer) created the article")
    assert created < html.index("Wren Alder (writer) submitted revision 1 (sha256")
    assert "Dana Okafor, M.D., Ph.D. (reviewer) approved revision 1 (sha256" in html
    assert "I have medically reviewed this content and approve it as accurate." in html
    assert "Chain never verified" in html
    for who in ("rev", "editor", "admin"):
        client.post("/logout")
        login(cast[who])
        assert client.get(f"/work/articles/{published.id}/audit").status_code == 200, who


def test_timeline_names_the_revision_current_at_each_step(cast, login, client, db):
    """Several steps in one transaction (as seed-demo does) still record the revision of the moment."""
    article = make_article(cast["writer"], "draft")
    articles.save_revision(cast["writer"], article, "Eczema in winter", BODY + "\nSee a clinician if it weeps.", 1)
    articles.submit_article(cast["writer"], article)
    db.session.commit()
    submitted = all_events(db, action="article.submitted")[0]
    assert submitted.revision_number == 2 and submitted.content_hash == article.revision.content_hash
    login(cast["writer"])
    html = client.get(f"/work/articles/{article.id}/audit").get_data(as_text=True)
    assert f"submitted revision 2 (sha256 {submitted.content_hash[:4]}" in html


@pytest.mark.parametrize("who", ["writer2", "rev2"])
def test_article_timeline_is_missing_to_others(cast, login, client, published, who):
    """To someone who cannot see the article, its timeline and export answer as for no article at all."""
    login(cast[who])
    client.get("/dashboard")  # shows the welcome message, so neither answer below carries it
    for path in ("/work/articles/{}/audit", "/audit/export?format=csv&article={}"):
        hidden, absent = client.get(path.format(published.id)), client.get(path.format(published.id + 1000))
        assert hidden.status_code == absent.status_code == 404
        assert hidden.get_data() == absent.get_data()


def test_article_timeline_missing_article_is_404(cast, login, client):
    login(cast["editor"])
    assert client.get("/work/articles/424242/audit").status_code == 404


# Exports ---------------------------------------------------------------------------

def _expected(db, **where) -> list[dict]:
    return [{f: (getattr(e, f).isoformat() if f == "occurred_at" else getattr(e, f)) for f in FIELDS}
            for e in all_events(db, **where)]


def test_jsonl_export_round_trips(cast, login, client, published, db):
    login(cast["admin"])
    response = client.get("/audit/export?format=jsonl")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert ".jsonl" in response.headers["Content-Disposition"]
    rows = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert rows == _expected(db)


def test_csv_export_round_trips_with_the_filter(cast, login, client, published, db):
    login(cast["editor"])
    response = client.get(f"/audit/export?format=csv&article={published.id}&action=decision.signed")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    expected = [{k: "" if v is None else str(v) for k, v in row.items()}
                for row in _expected(db, article_id=published.id, action="decision.signed")]
    assert rows == expected and len(rows) == 1
    assert json.loads(rows[0]["details"])["decision"] == "approve"


def test_export_of_a_large_trail_streams_in_chunks(cast, login, client, db):
    for _ in range(1200):
        audit.record("auth.login", actor=cast["rev"], role="reviewer", target=cast["rev"])
    db.session.commit()
    login(cast["editor"])
    response = client.get("/audit/export?format=jsonl", buffered=False)
    chunks = list(response.response)
    assert len(chunks) >= 3
    assert len("".join(c.decode() if isinstance(c, bytes) else c for c in chunks).splitlines()) == len(all_events(db))


def test_writer_exports_own_article_only(cast, login, client, published, db):
    login(cast["writer"])
    response = client.get(f"/audit/export?format=jsonl&article={published.id}")
    assert response.status_code == 200
    assert [json.loads(x)["seq"] for x in response.get_data(as_text=True).splitlines()] == \
        [e.seq for e in all_events(db, article_id=published.id)]
    assert client.get("/audit/export?format=jsonl").status_code == 403
    assert client.get(f"/audit/export?format=xml&article={published.id}").status_code == 400


def test_write_export_writes_what_the_cli_writes(published, db):
    out = io.StringIO()
    written = queries.write_export(out, "jsonl", queries.LogFilter(article_id=published.id))
    assert written == len(all_events(db, article_id=published.id))
    assert [json.loads(x) for x in out.getvalue().splitlines()] == _expected(db, article_id=published.id)
    out = io.StringIO()
    assert queries.write_export(out, "csv") == len(all_events(db))
    assert out.getvalue().splitlines()[0] == ",".join(FIELDS)


FORMULA = '=HYPERLINK("http://x")'


@pytest.mark.parametrize("value, cell", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
                                         ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("a=b", "a=b"), ("", ""),
                                         (None, ""), (42, "42"), ("{\"a\": \"=1\"}", "{\"a\": \"=1\"}")])
def test_csv_cells_that_start_like_a_formula_get_an_apostrophe(value, cell):
    assert queries.csv_cell(value) == cell


def test_csv_export_defuses_formulas_in_titles_and_typed_emails(cast, login, client, db):
    """A title and an e-mail address typed at /login reach events as typed; in the CSV they are text."""
    articles.create_article(cast["writer"], FORMULA, BODY)
    db.session.commit()
    client.post("/login", data={"email": FORMULA, "password": "whatever-it-is"})
    failed = all_events(db, action="auth.login_failed")[-1]
    typed = FORMULA.lower()  # e-mail addresses are kept in lower case; spreadsheets read formulas in any case
    assert failed.target_label == typed and json.loads(failed.details)["email"] == typed
    login(cast["editor"])
    body = client.get("/audit/export?format=csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    labels = {row["action"]: row["target_label"] for row in rows}
    assert (labels["article.created"], labels["auth.login_failed"]) == ("'" + FORMULA, "'" + typed)
    assert not [cell for row in rows for cell in row.values() if cell.startswith(queries.FORMULA_STARTS)]
    out = io.StringIO()
    queries.write_export(out, "csv")
    assert out.getvalue() == body  # the command line writes the same file
    jsonl = [json.loads(line) for line in client.get("/audit/export?format=jsonl").get_data(as_text=True).splitlines()]
    assert FORMULA in [row["target_label"] for row in jsonl]  # JSON Lines keeps every value exactly


# Verification ----------------------------------------------------------------------

def test_admin_verifies_now_and_the_badge_says_so(cast, login, client, published, db):
    login(cast["admin"])
    assert "never verified" in client.get("/audit").get_data(as_text=True)
    response = client.post("/audit/verify", data={"next": f"/work/articles/{published.id}/audit"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/work/articles/{published.id}/audit")
    run = db.session.scalars(select(AuditVerification)).one()
    assert run.ok and run.events == len(all_events(db))
    html = client.get("/audit").get_data(as_text=True)
    assert "Chain last verified" in html and f"OK, {run.events} events" in html
    assert "Audit chain verified" in html  # the flash


@pytest.mark.parametrize("who", ["writer", "rev"])
def test_verify_now_refuses_writers_and_reviewers(cast, login, client, db, who):
    login(cast[who])
    assert client.post("/audit/verify").status_code == 403
    assert db.session.scalars(select(AuditVerification)).first() is None


def test_editors_verify_from_the_pages_and_external_next_is_refused(cast, login, client, db):
    login(cast["editor"])
    assert "Verify now" in client.get("/audit").get_data(as_text=True)
    response = client.post("/audit/verify", data={"next": "https://evil.example/"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/audit")
    assert db.session.scalars(select(AuditVerification)).one().ok
    client.post("/logout")
    login(cast["admin"])
    response = client.post("/audit/verify", data={"next": "https://evil.example/"})
    assert response.headers["Location"].endswith("/audit")


def test_broken_chain_badge_names_the_event(cast, login, client, db):
    db.session.add(AuditVerification(ok=False, events=7, first_bad_seq=5, message="event 5 (auth.login) was edited"))
    db.session.commit()
    login(cast["editor"])
    html = client.get("/audit").get_data(as_text=True)
    assert "BROKEN at event" in html and 'href="/audit/events/5"' in html and "was edited" in html


# Plain words -------------------------------------------------------------------------

ACTIONS = [
    ("article.created", {"slug": "x", "topic": "Skin"}, "created the article “Eczema in winter” revision 1 (sha256"),
    ("revision.saved", {"note": "Added a source", "approvals_voided": ["a"], "annotations_orphaned": [1, 2]},
     "saved “Eczema in winter” revision 1 (sha256 abcd…7890); note: “Added a source”; this voided 1 approval; "
     "2 annotations no longer matched the text"),
    ("article.submitted", {}, "submitted “Eczema in winter” revision 1 (sha256 abcd…7890) for review"),
    ("reviewer.assigned", {"reviewer": "Dana Okafor, M.D.", "due_date": "2030-01-02"},
     "assigned Dana Okafor, M.D. to review “Eczema in winter”, due 2030-01-02"),
    ("reviewer.assigned", {"reviewer": "Ravi Senn", "due_date": "2030-01-02", "specialty_match": False},
     "assigned Ravi Senn to review “Eczema in winter”, due 2030-01-02 (outside their specialty)"),
    ("review.reminded", {"reviewer": "Dana Okafor, M.D.", "kind": "due_soon", "due_date": "2030-01-02"},
     "reminded Dana Okafor, M.D. that the review of “Eczema in winter” is due on 2030-01-02"),
    ("review.reminded", {"reviewer": "Dana Okafor, M.D.", "kind": "overdue", "due_date": "2030-01-02", "count": 2},
     "reminded Dana Okafor, M.D. that the review of “Eczema in winter” is overdue, due 2030-01-02 (reminder 2)"),
    ("reviewer.withdrawn", {"reviewer": "Dana Okafor, M.D."}, "withdrew Dana Okafor, M.D. from the review"),
    ("annotation.added", {"blocking": True}, "added a blocking annotation"),
    ("annotation.replied", {"comment": "ok"}, "replied to the annotation"),
    ("annotation.resolved", {}, "resolved the annotation"),
    ("annotation.reopened", {}, "reopened the annotation"),
    ("decision.signed", {"decision": "approve", "signer": "Dana Okafor", "credentials": "M.D., Ph.D.",
                         "meaning": "I approve.", "license_number": "GA-1", "specialty": "Dermatology"},
     "approved “Eczema in winter” revision 1 (sha256 abcd…7890), signing with the credentials M.D., Ph.D. "
     "(Dermatology, licence GA-1): “I approve.”"),
    ("decision.signed", {"decision": "request_changes", "signer": "Dana Okafor", "credentials": "M.D."},
     "requested changes to “Eczema in winter” revision 1 (sha256 abcd…7890), signing with the credentials M.D."),
    ("article.published", {"version": 2}, "published “Eczema in winter” revision 1 (sha256 abcd…7890) as version 2"),
    ("article.rereviewed", {"version": 3},
     "completed the re-review of “Eczema in winter” revision 1 (sha256 abcd…7890): version 3 published"),
    ("article.unpublished", {"reason": "Outdated"}, "unpublished “Eczema in winter”; reason: “Outdated”"),
    ("two_factor.enabled", {"recovery_codes": 10}, "turned on two-factor sign-in"),
    ("two_factor.disabled", {}, "turned off two-factor sign-in"),
    ("two_factor.recovery_code_used", {"remaining": 9}, "used a two-factor recovery code (9 codes left)"),
    ("auth.code_failed", {}, "entered a wrong two-factor code while signing in"),
    ("account.preferences_changed", {"time_zone": {"from": "UTC", "to": "Europe/Berlin"}},
     "changed their time zone from UTC to Europe/Berlin"),
    ("account.email_preference_changed", {"email": {"from": "hourly", "to": "daily"}},
     "chose a daily digest for their notifications (was an hourly digest)"),
    ("rereview.scheduled", {"months": [12, 6], "due": "2031-01-01"},
     "set the re-review interval of “Eczema in winter” to every 6 months (next due 2031-01-01)"),
    ("auth.login", {"ip": "1.2.3.4"}, "signed in"),
    ("auth.login_failed", {"email": "x@example.org", "failures": 2}, "failed to sign in as x@example.org (2 failures"),
    ("auth.logout", {}, "signed out"),
    ("account.created", {"email": "n@example.org", "name": "Nia", "roles": ["writer"]},
     "created the account of Nia (n@example.org) with roles writer"),
    ("account.updated", {"active": [True, False]}, "deactivated the account"),
    ("account.roles_changed", {"roles": [["writer"], ["editor", "writer"]]}, "from writer to editor, writer"),
    ("account.password_changed", {}, "changed their password"),
    ("credentials.changed", {"version": 2, "credentials": "M.D.", "specialty": "Skin", "license_number": "L1",
                             "license_expires": "2030-01-01"},
     "saved credential profile version 2 of target: M.D., Skin, licence L1 valid to 2030-01-01"),
    ("credentials.verified", {"version": 3, "license_number": "L1"}, "verified the credentials of target (profile"),
    ("token.created", {"name": "CMS"}, "created the API token target named “CMS”"),
    ("token.revoked", {}, "revoked the API token target"),
    ("account.password_reset", {"sessions_ended": 2}, "reset their password by e-mail, ending every session"),
    ("auth.password_reset_requested", {"email": "x@example.org"}, "asked for a password reset link for x@example.org"),
    ("auth.sessions_ended", {"ended": 2}, "signed out everywhere else (2 sessions ended)"),
    ("invitation.created", {"email": "n@example.org", "name": "Nia", "roles": ["writer"]},
     "invited Nia (n@example.org) with roles writer"),
    ("invitation.resent", {"email": "n@example.org"}, "sent the invitation to n@example.org again"),
    ("invitation.revoked", {"email": "n@example.org"}, "revoked the invitation to n@example.org"),
    ("invitation.accepted", {"roles": ["writer"]}, "accepted their invitation, opening the account target"),
    ("signature.failed", {"decision": "approve"},
     "gave a wrong signing password for an approval of “Eczema in winter” revision 1 (sha256 abcd…7890)"),
    ("source.checked", {"key": "who", "verdict": "does_not_support", "comment": "Says the opposite"},
     "checked source [^who] of “Eczema in winter” revision 1 (sha256 abcd…7890): does not support; comment: "
     "“Says the opposite”"),
    ("source.flagged", {"key": "who", "verdict": "outdated", "comment": "Replaced in 2031"},
     "flagged source [^who] of “Eczema in winter” revision 1 (sha256 abcd…7890) as outdated, due for re-review"),
    ("webhook.created", {"url": "https://cms.example.org/h", "events": ["article.published"]},
     "registered the webhook endpoint target for article.published"),
    ("webhook.activated", {"active": [False, True]}, "activated the webhook endpoint target"),
    ("webhook.deactivated", {"active": [True, False]}, "deactivated the webhook endpoint target"),
    ("webhook.deleted", {"deliveries_deleted": 3}, "deleted the webhook endpoint target with its 3 deliveries"),
    ("webhook.pinged", {"delivery": 4}, "sent a test ping to the webhook endpoint target"),
    ("webhook.delivery_retried", {"delivery": 4, "event": "article.published", "attempts": 8},
     "retried delivery 4 (article.published) to the webhook endpoint target"),
    ("site.setting_changed", {"key": "logo_url", "value": "", "default": True}, "back to its default"),
]


def test_every_registered_action_is_said_in_words():
    assert {action for action, _, _ in ACTIONS} == {action.value for action in AuditAction}


@pytest.mark.parametrize("action, details, expected", ACTIONS)
def test_every_action_reads_as_a_sentence(action, details, expected):
    event = AuditEvent(seq=1, action=action, actor_id=7, actor_name="Dana Okafor, M.D., Ph.D.", actor_role="reviewer",
                       target_label="target", revision_number=1, content_hash="abcd" + "0" * 56 + "7890",
                       details=json.dumps(details))
    if action == "auth.login_failed":
        event.actor_id, event.actor_role, event.actor_name = None, "anonymous", "unknown"
    sentence = queries.describe(event, "Eczema in winter")
    assert expected in sentence, sentence
    assert "recorded" not in sentence and sentence.endswith((".", ".”")) and not sentence.endswith("..")


def test_odd_details_still_make_a_sentence():
    event = AuditEvent(seq=1, action="rereview.scheduled", actor_id=None, actor_name="system", actor_role="system",
                       details='{"months": 5}')
    assert queries.describe(event).startswith("reviewflow (command line) set the re-review interval")
    event.details = "not json"
    event.action = "something.new"
    assert queries.describe(event, "T") == "reviewflow (command line) recorded something.new on “T”."
