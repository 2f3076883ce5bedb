"""Building a publisher-sized reviewflow data set fast, with bulk inserts and a valid audit chain.

The schema comes from the migrations (``flask db upgrade``, run by the caller), so the database's
own guards (append-only triggers on ``audit_events``) are in place while the data goes in: the
builder only INSERTs. Rows are written with SQLAlchemy Core ``insert()`` of lists of dicts
(``executemany``) on SQLite and with ``COPY`` on PostgreSQL, never through the ORM services.

Every article is walked through a small plan of workflow steps (create, save, submit, assign,
annotate, sign, publish, unpublish…) that follows the rules of ``articles/workflow.py``, so the
rows agree with each other: assignments point at their latest decision, published versions rest
on signed approvals of exactly their revision, open annotations are anchored in the current
text. Each step also yields the audit event the application would have recorded. Events from
all articles (plus log-ins and log-outs, to reach the requested count) are merged in time
order with a heap and chained with the application's own ``link``/``encode``/``key_id_of``
under the benchmark's audit key, so ``flask audit verify`` accepts the result; the
``audit_head`` row is set to the last event.

Bodies are drawn from the original demo texts plus a per-revision paragraph, so the Markdown
is rendered once per distinct body (a render costs about 6 ms) and reused for every published
version that shows it.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from argon2 import PasswordHasher
from sqlalchemy import Table, create_engine, text

from bench import AUDIT_KEY, PASSWORD
from bench.progress import Progress
from config import Config
from reviewflow import models  # noqa: F401  (every table registered on the metadata)
from reviewflow.articles.models import content_hash
from reviewflow.articles.rendering import plain_text, render_markdown
from reviewflow.audit.models import GENESIS
from reviewflow.audit.services import head_mac, key_id_of, link
from reviewflow.demo_content import ARTICLES as DEMO_ARTICLES
from reviewflow.extensions import db
from reviewflow.reviews.models import MEANINGS

TOPICS = [
    "Dermatology", "Pharmacology", "Nutrition and Dietetics", "Pediatrics", "Occupational Health Nursing",
    "Cardiology", "Endocrinology", "Neurology", "Psychiatry", "Obstetrics and Gynecology", "Infectious Diseases",
    "Gastroenterology", "Pulmonology", "Rheumatology", "Oncology", "Ophthalmology", "Sleep Medicine",
    "Orthopedics", "Urology", "Allergy and Immunology",
]
FIRST = ["Avery", "Basil", "Cleo", "Dario", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonah", "Kaia", "Lorcan",
         "Mira", "Nikolai", "Odessa", "Pavel", "Quinn", "Rosalind", "Soren", "Talia", "Ulric", "Vesna", "Wendell",
         "Xiomara", "Yusuf", "Zelda", "Anouk", "Bram", "Calla", "Desmond"]
LAST = ["Abernethy", "Bellweather", "Castellane", "Dunmore", "Eskildsen", "Fairbourne", "Galloway", "Hartigan",
        "Ingleby", "Jarrow", "Kestrel", "Lindgren", "Marchetti", "Northcott", "Okonkwo", "Pemberton", "Quayle",
        "Rasmussen", "Silverthorne", "Tamberlane", "Underhill", "Valcourt", "Whitlock", "Yardley", "Zoltan"]
CREDENTIALS = ["M.D.", "M.D., Ph.D.", "PharmD", "R.D.N.", "R.N., B.S.N.", "D.O.", "M.D., M.P.H.", "Pharm.D., BCPS"]
ORGS = ["Northbridge Medical Review Network", "Clearwater Clinical Review Collective", "Harbourline Health Review"]
#: What an approval attests: the app's own checklist.
CHECKLIST = list(Config.REVIEW_CHECKLIST)
EXTRA = [
    "## What changed in this revision\n\nWe tightened the wording of the advice above and checked each number "
    "against current public-health guidance. {n}",
    "## A note on sources\n\nThis article draws on guidance from national public-health agencies and "
    "professional societies. Ask a pharmacist or clinician about your own situation. {n}",
    "## Questions to ask at your next visit\n\n- Is this advice right for me?\n- Which warning signs should make "
    "me call sooner?\n- How will we know the treatment is working? {n}",
    "## Keeping track\n\nA simple diary of symptoms, triggers and medicines makes the next appointment more "
    "useful. Note the date, what happened and what helped. {n}",
    "## When to get help quickly\n\nCall emergency services for trouble breathing, chest pain, fainting or "
    "sudden confusion. Do not wait for the next appointment. {n}",
]
COMMENTS = [
    "Please cite the guidance this number comes from.",
    "This could be read as advice to stop a medicine; please add 'talk to your clinician first'.",
    "Suggest plainer wording here for readers without a medical background.",
    "Check the age range: the guidance differs for young children.",
    "Good point; consider adding when to seek care.",
    "The dose here should say 'per day', not 'per dose'.",
]
REPLIES = ["Fixed in the next revision.", "Reworded, thanks.", "Added the source.", "Good catch, changed."]
BIG_GAP_DAYS = (30.0, 240.0)
#: ``details`` as ``audit.record`` writes it (sorted keys, compact), with one encoder built once.
_details = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


@dataclass
class Sizes:
    """How much to build. ``quick()`` is the CI smoke size."""

    articles: int = 20_000
    revisions: int = 5
    people: int = 300
    published: int = 5_000
    events: int = 1_000_000

    @classmethod
    def quick(cls) -> Sizes:
        return cls(articles=1_000, revisions=5, people=60, published=250, events=50_000)

def token_of(user_id: int) -> str:
    """The API token of a benchmark account: derived from its id, so a re-run can find it again."""
    return "rf_bench_" + hashlib.sha256(f"reviewflow-bench-token:{user_id}".encode()).hexdigest()[:40]


# Bodies -------------------------------------------------------------------------------------------

@dataclass
class BodyPool:
    """Demo bodies (the base text of an article) and the rendered HTML of every distinct body."""

    bases: list[tuple[str, str]]  # (title, body)
    quotes: list[list[tuple[int, str]]]  # per base: (position, quote) found in the base text
    html: dict[str, tuple[str, str]] = field(default_factory=dict)  # body -> (html, summary)

    @classmethod
    def load(cls) -> BodyPool:
        bases = []
        for spec in DEMO_ARTICLES:
            for rev in spec["revisions"]:
                bases.append((spec["title"], rev["body"].replace("\r\n", "\n")))
        quotes = []
        for _, body in bases:
            found = []
            for match in re.finditer(r"[A-Za-z][A-Za-z ,'-]{24,70}[a-z]", body):
                found.append((match.start(), match.group(0)))
            quotes.append(found or [(0, body[:30])])
        return cls(bases, quotes)

    def body(self, base: int, revision: int, article_id: int) -> str:
        extra = EXTRA[(revision - 1) % len(EXTRA)].format(n=f"(Revision {revision}.)")
        return self.bases[base][1].rstrip() + "\n\n" + extra + "\n"

    def rendered(self, body: str) -> tuple[str, str]:
        hit = self.html.get(body)
        if hit is None:
            text_ = plain_text(body)
            hit = (render_markdown(body), (text_[:297] + "…") if len(text_) > 300 else text_)
            self.html[body] = hit
        return hit


# People -------------------------------------------------------------------------------------------

@dataclass
class Person:
    id: int
    name: str
    email: str
    role: str
    display: str
    profile: dict | None = None


def build_people(sizes: Sizes, rng: random.Random, start: datetime) -> tuple[list[Person], dict[str, list]]:
    """Writers (half), reviewers with verified profiles (a third, spread over the topics), editors, admins."""
    n = max(8, sizes.people)
    counts = {"reviewer": max(2, n // 3), "editor": max(2, n // 10), "admin": max(1, n // 15)}
    counts["writer"] = n - sum(counts.values())
    hasher = PasswordHasher()
    password_hash = hasher.hash(PASSWORD)
    people: list[Person] = []
    rows: dict[str, list] = {"users": [], "user_roles": [], "reviewer_profiles": [], "api_tokens": []}
    order = ["admin"] * counts["admin"] + ["editor"] * counts["editor"] + ["writer"] * counts["writer"] + \
        ["reviewer"] * counts["reviewer"]
    reviewer_no = 0
    for i, role in enumerate(order, start=1):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        name = f"{first} {last}"
        email = f"{role}{i}@bench.example.org"
        created = start - timedelta(days=60) + timedelta(minutes=17 * i)
        person = Person(i, name, email, role, name)
        rows["users"].append({
            "id": i, "email": email, "name": name, "password_hash": password_hash, "active": True,
            "bio": f"{name} works on the {role} team of the benchmark publisher.", "session_generation": 0,
            "profile_version": 1 if role == "reviewer" else 0, "created_at": created,
        })
        rows["user_roles"].append({"id": i, "user_id": i, "role": role})
        if role == "reviewer":
            cred = CREDENTIALS[reviewer_no % len(CREDENTIALS)]
            profile = {
                "id": reviewer_no + 1, "user_id": i, "version": 1, "credentials": cred,
                "specialty": TOPICS[reviewer_no % len(TOPICS)], "license_number": f"LIC-{i:06d}",
                "license_jurisdiction": "Oregon, USA",
                "license_expires": date(2030 + reviewer_no % 4, 1 + reviewer_no % 12, 28),
                "affiliation": f"{LAST[reviewer_no % len(LAST)]} Community Clinic",
                "organization": ORGS[reviewer_no % len(ORGS)],
                "bio": f"{name} reviews articles on {TOPICS[reviewer_no % len(TOPICS)].lower()}.",
                "verified_by_id": 1, "verified_at": created + timedelta(hours=2),
                "verification_method": "Licence looked up in the issuing board's public register.",
                "created_at": created,
                "created_by_id": 1,
            }
            rows["reviewer_profiles"].append(profile)
            person.profile = profile
            person.display = f"{name}, {cred}"
            reviewer_no += 1
        plain = token_of(i)
        rows["api_tokens"].append({
            "id": i, "user_id": i, "name": "benchmark", "token_hash": hashlib.sha256(plain.encode()).hexdigest(),
            "prefix": plain[:10], "created_at": created, "last_used_at": None, "revoked_at": None,
        })
        people.append(person)
    return people, rows


# Article plans ------------------------------------------------------------------------------------

STATE_SHARES = [("unpublished", 0.02), ("approved", 0.05), ("in_review", 0.20), ("changes_requested", 0.10),
                ("submitted", 0.08)]


def state_mix(sizes: Sizes) -> list[str]:
    """Every article's final state: ``published`` as asked, the rest by share, drafts making up the remainder."""
    n = sizes.articles
    published = min(sizes.published, n)
    states = ["published"] * published
    for state, share in STATE_SHARES:
        k = min(max(1, round(n * share)), n - len(states))
        states += [state] * k
    states += ["draft"] * (n - len(states))
    return states


def plan_steps(state: str, versions: int, r: int) -> list[tuple]:
    """The workflow steps that bring an article with ``r`` revisions to ``state``: ``(step, arg)`` tuples."""
    save = [("save", None)]

    def cycle(revs: int) -> list[tuple]:
        pre = max(0, revs - 2)
        post = revs - 1 - pre
        return (save * pre + [("submit", None), ("assign", False), ("annotate", 2), ("request_changes", None),
                              ("reply", None), ("resolve", None)] + save * post + [("submit", None)])

    steps: list[tuple] = [("create", None)]
    if state == "draft":
        return steps + save * (r - 1)
    if state == "submitted":
        return steps + save * (r - 1) + [("submit", None)]
    if state == "changes_requested":
        pre = max(0, r - 2)
        return (steps + save * pre + [("submit", None), ("assign", False), ("annotate", 2),
                                      ("request_changes", None), ("reply", None)] + save * (r - 1 - pre))
    if state == "in_review":
        return steps + cycle(r) + [("annotate_open", 1)]
    first = r if state != "published" or versions < 2 else max(1, r - 2)
    steps += [*cycle(first), ("approve", None)]
    if state == "approved":
        return steps
    steps.append(("publish", None))
    if state == "unpublished":
        return [*steps, ("gap", None), ("unpublish", None)]
    if versions >= 2:
        steps += [("gap", None)] + save * (r - first) + [("submit", None), ("approve", None), ("publish", None)]
    if versions >= 3:
        steps += [("gap", None), ("assign", True), ("approve", None), ("republish", None)]
    return steps


@dataclass
class Event:
    """One audit event waiting for its place in the chain; ``stamp`` rows receive its seq."""

    at: datetime
    fields: dict
    stamp: list = field(default_factory=list)


class ArticleBuilder:
    """Walks one article through its steps, producing rows and the audit events they imply."""

    def __init__(self, world: World, article_id: int, state: str, versions: int, t0: datetime,
                 end: datetime, topic: str, k: int) -> None:
        self.w, self.id, self.final, self.versions = world, article_id, state, versions
        rng = world.rng
        self.writer = rng.choice(world.writers)
        self.topic = topic
        pool = world.reviewers_by_topic.get(self.topic) or world.reviewers
        self.reviewers = rng.sample(pool, k)
        self.editor = rng.choice(world.editors)
        self.base = rng.randrange(len(world.bodies.bases))
        base_title = world.bodies.bases[self.base][0]
        self.title = f"{base_title}: {self.topic} guide {article_id}"
        self.slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")[:190]
        self.state = "draft"
        self.rev = 0
        self.revs: dict[int, tuple[str, str]] = {}  # number -> (body, hash)
        self.assignments: dict[int, dict] = {}  # reviewer id -> row
        self.annotations: list[dict] = []
        self.version = 0
        self.live: int | None = None
        self.events: list[Event] = []
        self.t0, self.end = t0, end
        self.t = t0
        self.rereview_due: date | None = None
        self.unpublished_at = None
        self.unpublish_reason = None

    # time ------------------------------------------------------------------------------------------
    def run(self, steps: list[tuple]) -> None:
        rng = self.w.rng
        gaps = [rng.uniform(*BIG_GAP_DAYS) if s == "gap" else rng.uniform(0.05, 2.5) for s, _ in steps]
        total = sum(gaps)
        room = (self.end - self.t0).total_seconds() / 86400 * 0.98
        scale = min(1.0, room / total) if total else 1.0
        for (step, arg), gap in zip(steps, gaps, strict=True):
            self.t = self.t + timedelta(days=gap * scale)
            if step != "gap":
                getattr(self, "step_" + step)(arg)

    def tick(self) -> datetime:
        """A few seconds later: events of one step keep their order."""
        self.t += timedelta(seconds=self.w.rng.uniform(5, 90))
        return self.t

    def event(self, action: str, actor: Person | None, role: str, *, target_type: str = "article",
              target_id: int | None = None, target_label: str | None = None, revision: int | None = None,
              before: str | None = None, after: str | None = None, details: dict | None = None,
              stamp: list | None = None) -> None:
        number = revision
        self.events.append(Event(self.t, {
            "actor_id": actor.id if actor else None, "actor_name": actor.display if actor else "system",
            "actor_role": role, "action": action, "target_type": target_type,
            "target_id": self.id if target_id is None else target_id,
            "target_label": (self.title if target_label is None else target_label)[:300],
            "article_id": self.id, "revision_number": number,
            "content_hash": self.revs[number][1] if number else None,
            "before_state": before, "after_state": after,
            "details": _details(details or {}),
        }, stamp or []))

    def notify(self, person: Person, text_: str, url: str) -> None:
        read = self.t + timedelta(hours=6) if self.t < self.end - timedelta(days=10) else None
        self.w.add("notifications", {"id": self.w.next_id("notifications"), "user_id": person.id, "text": text_[:500],
                                     "url": url, "created_at": self.t, "read_at": read})

    # steps -----------------------------------------------------------------------------------------
    def _new_revision(self) -> None:
        self.rev += 1
        body = self.w.bodies.body(self.base, self.rev, self.id)
        digest = content_hash(self.title, body)
        self.revs[self.rev] = (body, digest)
        self.w.add("revisions", {
            "id": self.w.next_id("revisions"), "article_id": self.id, "number": self.rev, "title": self.title,
            "body": body, "content_hash": digest, "note": "" if self.rev == 1 else f"Revision {self.rev}",
            "author_id": self.writer.id, "created_at": self.t,
        })

    def step_create(self, _) -> None:
        self._new_revision()
        self.event("article.created", self.writer, "writer", revision=1, after="draft",
                   details={"slug": self.slug, "topic": self.topic})

    def _active(self) -> list[dict]:
        return [a for a in self.assignments.values() if a["status"] != "withdrawn"]

    def step_save(self, _) -> None:
        before = self.state
        self._new_revision()
        voided = [a["decision_id"] for a in self._active() if a["status"] == "approved"]
        if before in ("in_review", "approved"):
            self.state = "in_review"
            for a in self._active():
                a["status"], a["status_revision"] = "pending", None
        elif before == "published":
            self.state = "draft"
        reanchored = []
        for ann in self.annotations:
            if ann["status"] == "open":
                ann["anchored_revision"] = self.rev
                reanchored.append(ann["id"])
        self.event("revision.saved", self.writer, "writer", revision=self.rev, before=before, after=self.state,
                   details={"annotations_orphaned": [], "annotations_reanchored": reanchored,
                            "approvals_voided": voided, "note": f"Revision {self.rev}"})

    def step_submit(self, _) -> None:
        before = self.state
        self.state = "in_review" if self._active() else "submitted"
        for a in self._active():
            a["status"], a["status_revision"] = "pending", None
        self.event("article.submitted", self.writer, "writer", revision=self.rev, before=before, after=self.state)

    def step_assign(self, rereview: bool) -> None:
        for reviewer in self.reviewers:
            self.tick()
            row = self.assignments.get(reviewer.id)
            due = (self.t + timedelta(days=14)).date()
            if row is None:
                row = {"id": self.w.next_id("review_assignments"), "article_id": self.id,
                       "reviewer_id": reviewer.id, "status": "pending", "due_date": due,
                       "assigned_by_id": self.editor.id, "assigned_at": self.t, "withdrawn_at": None,
                       "decision_id": None, "status_revision": None}
                self.assignments[reviewer.id] = row
                self.w.add("review_assignments", row)
            else:
                row.update(status="pending", due_date=due, status_revision=None, assigned_at=self.t)
            before = self.state
            if self.state in ("submitted", "approved", "published"):
                self.state = "in_review"
            self.event("reviewer.assigned", self.editor, "editor", target_type="review_assignment",
                       target_id=row["id"], target_label=reviewer.name, revision=self.rev, before=before,
                       after=self.state, details={"due_date": due.isoformat(), "rereview": rereview,
                                                  "reviewer": reviewer.display, "reviewer_id": reviewer.id})
            self.notify(reviewer, f"You are asked to review “{self.title}”.", f"/work/articles/{self.id}/review")

    def _annotate(self, count: int, blocking_first: bool) -> None:
        rng = self.w.rng
        quotes = self.w.bodies.quotes[self.base]
        body = self.revs[self.rev][0]
        for i in range(count):
            self.tick()
            reviewer = rng.choice(self.reviewers)
            pos, quote = quotes[rng.randrange(len(quotes))]
            blocking = blocking_first and i == 0
            comment = rng.choice(COMMENTS)
            row = {"id": self.w.next_id("annotations"), "article_id": self.id, "revision_number": self.rev,
                   "anchored_revision": self.rev, "quote": quote, "prefix": body[max(0, pos - 32):pos],
                   "suffix": body[pos + len(quote):pos + len(quote) + 32], "position": pos, "comment": comment,
                   "blocking": blocking, "status": "open", "orphaned": False, "author_id": reviewer.id,
                   "created_at": self.t, "resolved_at": None, "resolved_by_id": None}
            self.annotations.append(row)
            self.w.add("annotations", row)
            self.event("annotation.added", reviewer, "reviewer", target_type="annotation", target_id=row["id"],
                       target_label=quote[:80], revision=self.rev, details={"blocking": blocking, "comment": comment})
            mark = " (blocking)." if blocking else "."
            self.notify(self.writer, f"{reviewer.name} annotated “{self.title}”{mark}",
                        f"/work/articles/{self.id}/review")

    def step_annotate(self, count: int) -> None:
        self._annotate(count, blocking_first=True)

    def step_annotate_open(self, count: int) -> None:
        self._annotate(count, blocking_first=False)

    def step_reply(self, _) -> None:
        if not self.annotations:
            return
        ann = self.annotations[0]
        comment = self.w.rng.choice(REPLIES)
        reply_id = self.w.next_id("annotation_replies")
        self.w.add("annotation_replies", {"id": reply_id, "annotation_id": ann["id"], "author_id": self.writer.id,
                                          "comment": comment, "created_at": self.t})
        self.event("annotation.replied", self.writer, "writer", target_type="annotation", target_id=ann["id"],
                   target_label=ann["quote"][:80], details={"comment": comment, "reply_id": reply_id})

    def step_resolve(self, _) -> None:
        for ann in self.annotations:
            if ann["status"] == "open":
                self.tick()
                ann.update(status="resolved", resolved_at=self.t, resolved_by_id=self.writer.id)
                self.event("annotation.resolved", self.writer, "writer", target_type="annotation",
                           target_id=ann["id"], target_label=ann["quote"][:80], before="open", after="resolved")

    def _sign(self, reviewer: Person, decision: str) -> dict:
        self.tick()
        profile = reviewer.profile
        assignment = self.assignments[reviewer.id]
        comment = "" if decision == "approve" else "Please address the blocking annotations before approval."
        items = list(CHECKLIST) if decision == "approve" else []
        row = {"id": self.w.next_id("decisions"), "article_id": self.id, "assignment_id": assignment["id"],
               "reviewer_id": reviewer.id, "profile_id": profile["id"], "decision": decision,
               "revision_number": self.rev, "content_hash": self.revs[self.rev][1], "printed_name": reviewer.name,
               "credentials": profile["credentials"], "specialty": profile["specialty"],
               "license_number": profile["license_number"], "license_expires": profile["license_expires"],
               "meaning": MEANINGS[decision], "comment": comment, "checklist": json.dumps(items),
               "signed_at": self.t, "audit_seq": None}
        self.w.held["decisions"].append(row)
        assignment.update(status="approved" if decision == "approve" else "changes_requested",
                          status_revision=self.rev, decision_id=row["id"])
        before = self.state
        statuses = [a["status"] for a in self._active()]
        if "changes_requested" in statuses:
            self.state = "changes_requested"
        elif all(s == "approved" for s in statuses):
            self.state = "approved"
        else:
            self.state = "in_review"
        self.event("decision.signed", reviewer, "reviewer", target_type="decision", target_id=row["id"],
                   target_label="", revision=self.rev, before=before, after=self.state, stamp=[row],
                   details={"decision_id": row["id"], "decision": decision, "reviewer_id": reviewer.id,
                            "signer": reviewer.name, "credentials": profile["credentials"],
                            "specialty": profile["specialty"], "license_number": profile["license_number"],
                            "license_expires": profile["license_expires"].isoformat(), "profile_version": 1,
                            "verified_at": profile["verified_at"].isoformat(), "meaning": MEANINGS[decision],
                            "signed_at": row["signed_at"].isoformat(), "content_hash": row["content_hash"],
                            "revision": self.rev, "checklist": items, "comment": comment})
        if decision == "request_changes":
            self.notify(self.writer, f"{reviewer.display} requested changes to “{self.title}”.",
                        f"/work/articles/{self.id}")
        return row

    def step_request_changes(self, _) -> None:
        self._sign(self.reviewers[0], "request_changes")

    def step_approve(self, _) -> None:
        for reviewer in self.reviewers:
            self._sign(reviewer, "approve")

    def _publish(self, kind: str) -> None:
        self.tick()
        decisions = [d for d in self.w.held["decisions"][-len(self.reviewers):]
                     if d["article_id"] == self.id and d["decision"] == "approve" and d["revision_number"] == self.rev]
        self.version += 1
        body, digest = self.revs[self.rev]
        html, summary = self.w.bodies.rendered(body)
        rereview = kind == "rereview"
        note = ("Medically re-reviewed; no changes to the text." if rereview
                else "First published." if self.version == 1 else f"Updated to revision {self.rev}.")
        pv = {"id": self.w.next_id("published_versions"), "article_id": self.id, "version": self.version,
              "revision_number": self.rev, "content_hash": digest, "slug": self.slug, "title": self.title,
              "topic": self.topic, "body_html": html, "summary": summary, "kind": kind, "published_at": self.t,
              "last_reviewed_at": max(d["signed_at"] for d in decisions),
              "publisher_id": None if rereview else self.editor.id,
              "publisher_name": "" if rereview else self.editor.name, "writer_id": self.writer.id,
              "writer_name": self.writer.name, "change_note": note, "audit_seq": None}
        self.w.held["published_versions"].append(pv)
        for d in decisions:
            profile = next(r.profile for r in self.reviewers if r.id == d["reviewer_id"])
            self.w.held["published_reviews"].append({
                "id": self.w.next_id("published_reviews"), "published_version_id": pv["id"], "decision_id": d["id"],
                "reviewer_id": d["reviewer_id"], "name": d["printed_name"], "credentials": d["credentials"],
                "specialty": d["specialty"], "affiliation": profile["affiliation"],
                "organization": profile["organization"], "license_number": d["license_number"],
                "reviewed_at": d["signed_at"], "meaning": d["meaning"], "checklist": d["checklist"],
                "decision_audit_seq": None, "_decision": d})
        before = self.state
        self.state = "published"
        self.live = self.version
        self.rereview_due = _add_months(self.t.date(), 12)
        # What the services' events carry (publishing.services.byline_details), for audit verify to compare.
        reviewed_by = {"version": self.version, "revision": self.rev, "content_hash": digest,
                       "published_at": self.t.isoformat(), "publisher_id": None if rereview else self.editor.id,
                       "publisher": "" if rereview else self.editor.name,
                       "reviewed_by": [{"decision_id": d["id"], "reviewer_id": d["reviewer_id"],
                                        "name": d["printed_name"], "credentials": d["credentials"],
                                        "specialty": d["specialty"], "reviewed_at": d["signed_at"].isoformat()}
                                       for d in decisions]}
        if rereview:
            actor = self.reviewers[0]
            self.event("article.rereviewed", actor, "reviewer", revision=self.rev, before=before, after="published",
                       stamp=[pv], details={**reviewed_by, "kind": "rereview"})
        else:
            self.event("article.published", self.editor, "editor", revision=self.rev, before=before,
                       after="published", stamp=[pv],
                       details={**reviewed_by, "change_note": note})
            self.notify(self.writer, f"“{self.title}” is published (version {self.version}).",
                        f"/articles/{self.slug}")

    def step_publish(self, _) -> None:
        self._publish("publish")

    def step_republish(self, _) -> None:
        self._publish("rereview")

    def step_unpublish(self, _) -> None:
        reason = "Withdrawn while the guidance it cites is updated."
        self.event("article.unpublished", self.editor, "editor", revision=self.rev, before=self.state,
                   after="unpublished", details={"reason": reason, "version": self.live})
        self.state, self.live = "unpublished", None
        self.unpublished_at, self.unpublish_reason, self.rereview_due = self.t, reason, None

    def article_row(self) -> dict:
        return {"id": self.id, "slug": self.slug, "title": self.title, "topic": self.topic,
                "writer_id": self.writer.id, "state": self.state, "current_revision": self.rev,
                "live_version": self.live, "rereview_months": 12, "rereview_due": self.rereview_due,
                "created_at": self.t0, "updated_at": self.t, "unpublished_at": self.unpublished_at,
                "unpublish_reason": self.unpublish_reason}


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, 28))


# The world: ids, buffers, writing ---------------------------------------------------------------

INSERT_ORDER = ["users", "user_roles", "reviewer_profiles", "api_tokens", "articles", "revisions",
                "review_assignments", "annotations", "annotation_replies", "notifications", "decisions",
                "published_versions", "published_reviews", "audit_events"]


class World:
    """Shared state of one build: people, id counters, row buffers and the database writer."""

    def __init__(self, conn, rng: random.Random, people: list[Person], bodies: BodyPool, chunk: int) -> None:
        self.conn, self.rng, self.bodies, self.chunk = conn, rng, bodies, chunk
        self.pg = conn.dialect.name == "postgresql"
        self.people = people
        self.writers = [p for p in people if p.role == "writer"]
        self.reviewers = [p for p in people if p.role == "reviewer"]
        self.editors = [p for p in people if p.role == "editor"]
        self.reviewers_by_topic: dict[str, list[Person]] = {}
        for p in self.reviewers:
            self.reviewers_by_topic.setdefault(p.profile["specialty"], []).append(p)
        self.ids: dict[str, int] = {}
        self.buffers: dict[str, list[dict]] = {name: [] for name in INSERT_ORDER}
        self.held: dict[str, list[dict]] = {"decisions": [], "published_versions": [], "published_reviews": []}
        self.counts: dict[str, int] = dict.fromkeys(INSERT_ORDER, 0)
        self.tables: dict[str, Table] = db.metadata.tables

    def next_id(self, table: str) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        return self.ids[table]

    def add(self, table: str, row: dict) -> None:
        self.buffers[table].append(row)

    def flush(self, tables: list[str] | None = None) -> None:
        for name in tables or INSERT_ORDER:
            rows = self.buffers.get(name)
            if rows:
                self.write(name, rows)
                self.buffers[name] = []

    def _complete(self, name: str, rows: list[dict]) -> list[str]:
        """Columns in the order to write; fills any column this builder does not know from its default."""
        table = self.tables[name]
        known = [k for k in rows[0] if not k.startswith("_")]
        missing = [c for c in table.columns if c.name not in rows[0]]
        if missing:
            fills = {}
            for col in missing:
                default = col.default
                if default is None:
                    fills[col.name] = None
                elif default.is_scalar:
                    fills[col.name] = default.arg
                elif default.is_callable:
                    fills[col.name] = default.arg(None)
            for row in rows:
                row.update(fills)
            known += list(fills)
        return known

    def write(self, name: str, rows: list[dict]) -> None:
        cols = self._complete(name, rows)
        table = self.tables[name]
        if self.pg:
            raw = self.conn.connection.dbapi_connection
            with raw.cursor() as cur, cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in cols])
        else:
            clean = rows if not any(k.startswith("_") for k in rows[0]) else \
                [{c: r[c] for c in cols} for r in rows]
            self.conn.execute(table.insert(), clean)
        self.counts[name] += len(rows)


# The chain -----------------------------------------------------------------------------------------

class Chain:
    """Numbers events, links them with the application's HMAC and writes them in batches."""

    def __init__(self, world: World, limit: int, progress: Progress) -> None:
        self.w, self.limit, self.progress = world, limit, progress
        self.key = AUDIT_KEY.encode()
        self.key_id = key_id_of(AUDIT_KEY)
        self.seq = 0
        self.prev = GENESIS
        self.rng = random.Random(world.rng.random())

    @property
    def full(self) -> bool:
        return self.seq >= self.limit

    def append(self, event: Event) -> None:
        if self.full:
            return
        self.seq += 1
        row = event.fields
        row.update(id=self.seq, seq=self.seq, occurred_at=event.at, request_id=f"{self.rng.getrandbits(128):032x}",
                   key_id=self.key_id, prev_hash=self.prev)
        row["hash"] = self.prev = link(self.key, self.prev, SimpleNamespace(**row))
        for stamped in event.stamp:
            stamped["audit_seq"] = self.seq
        self.w.add("audit_events", row)
        if len(self.w.buffers["audit_events"]) >= 10_000:
            self.w.flush(["audit_events"])
        if self.seq % 2000 == 0:
            self.progress.update(self.seq)


def filler_events(world: World, count: int, start: datetime, end: datetime) -> Iterator[Event]:
    """Log-ins and log-outs spread evenly over the period, in time order."""
    if count <= 0:
        return
    rng = random.Random(world.rng.random())
    step = (end - start) / count
    staff = world.people
    for i in range(count):
        at = start + step * i + step * rng.random() * 0.9
        person = staff[rng.randrange(len(staff))]
        roll = rng.random()
        action = "auth.login" if roll < 0.72 else "auth.logout" if roll < 0.97 else "account.password_changed"
        details = {"ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"} \
            if action == "auth.login" else {}
        yield Event(at, {"actor_id": person.id, "actor_name": person.display, "actor_role": person.role,
                         "action": action, "target_type": "user", "target_id": person.id,
                         "target_label": person.email, "article_id": None, "revision_number": None,
                         "content_hash": None, "before_state": None, "after_state": None,
                         "details": _details(details)})


def people_events(people: list[Person], rows: dict[str, list]) -> list[Event]:
    events = []
    for user in rows["users"]:
        person = people[user["id"] - 1]
        events.append(Event(user["created_at"], {
            "actor_id": None, "actor_name": "system", "actor_role": "system", "action": "account.created",
            "target_type": "user", "target_id": person.id, "target_label": person.email, "article_id": None,
            "revision_number": None, "content_hash": None, "before_state": None, "after_state": None,
            "details": json.dumps({"email": person.email, "name": person.name, "roles": [person.role]},
                                  sort_keys=True, separators=(",", ":"))}))
        if person.profile:
            p = person.profile
            events.append(Event(user["created_at"] + timedelta(seconds=1), {
                "actor_id": None, "actor_name": "system", "actor_role": "system", "action": "credentials.changed",
                "target_type": "user", "target_id": person.id, "target_label": person.email, "article_id": None,
                "revision_number": None, "content_hash": None, "before_state": None, "after_state": None,
                "details": json.dumps({k: str(p[k]) for k in ("credentials", "specialty", "license_number",
                                                              "license_jurisdiction", "license_expires",
                                                              "affiliation", "organization")} | {"version": 1},
                                      sort_keys=True, separators=(",", ":"))}))
    return events


# Building -----------------------------------------------------------------------------------------

@dataclass
class BuildResult:
    seconds: float
    counts: dict[str, int]
    events: int
    head_hash: str
    distinct_bodies: int


def _article_times(states: list[str], rng: random.Random, start: datetime, end: datetime) -> list[tuple]:
    """(start time, state) of every article, sorted: ids follow creation order.

    Published and unpublished articles and abandoned drafts start any time in the period; articles still
    in the review pipeline started in the last five months.
    """
    span = (end - start).total_seconds()
    recent = min(span, 150 * 86400)
    plans = []
    for state in states:
        if state in ("published", "unpublished"):
            offset = rng.uniform(0, span - min(span * 0.05, 45 * 86400))
        elif state == "draft":
            offset = rng.uniform(0, span - 86400)
        else:
            offset = rng.uniform(span - recent, span - 2 * 86400)
        plans.append((start + timedelta(seconds=offset), state))
    plans.sort(key=lambda p: p[0])
    return plans


def build(database_url: str, sizes: Sizes, *, seed: int = 2026, log: Callable[[str], None] = print) -> BuildResult:
    """Fill the freshly migrated database at ``database_url``; returns counts and timings."""
    started = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    end = now - timedelta(hours=1)
    start = end - timedelta(days=3 * 365)
    engine = create_engine(database_url)
    bodies = BodyPool.load()
    people, people_rows = build_people(sizes, rng, start)
    states = state_mix(sizes)
    plans = _article_times(states, rng, start, end)
    versions_of = {}
    published_ids = [i for i, (_, s) in enumerate(plans) if s == "published"]
    for k, i in enumerate(published_ids):
        versions_of[i] = 1 + (k % 5 >= 2) + (k % 5 >= 4)  # 40 % one version, 40 % two, 20 % three
    by_topic: dict[str, int] = {}
    for p in people:
        if p.profile:
            by_topic[p.profile["specialty"]] = by_topic.get(p.profile["specialty"], 0) + 1
    shapes = []  # (topic, number of reviewers) of each article, decided up front to count events exactly
    for _ in plans:
        topic = rng.choice(TOPICS)
        pool = by_topic.get(topic) or sum(by_topic.values())
        shapes.append((topic, 2 if (pool > 1 and rng.random() < 0.3) else 1))
    people_evs = people_events(people, people_rows)
    article_events = sum(_events_in(plan_steps(s, versions_of.get(i, 1), sizes.revisions), shapes[i][1])
                         for i, (_, s) in enumerate(plans))
    fillers = max(0, sizes.events - article_events - len(people_evs))
    if article_events + len(people_evs) > sizes.events:
        log(f"  ! {article_events + len(people_evs):,} events needed for the articles and people, more than the "
            f"{sizes.events:,} asked: the latest are left out of the chain")
    log(f"  {len(people)} people, {sizes.articles:,} articles × {sizes.revisions} revisions "
        f"({sizes.published:,} published): {article_events + len(people_evs):,} workflow events "
        f"+ {fillers:,} log-in events = {sizes.events:,} events")
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        world = World(conn, rng, people, bodies, chunk=500)
        for name in ("users", "user_roles", "reviewer_profiles", "api_tokens"):
            world.write(name, people_rows[name])
        progress = Progress(sizes.events, "audit chain")
        chain = Chain(world, sizes.events, progress)
        heap: list[tuple] = []
        counter = 0
        for ev in people_evs:
            heapq.heappush(heap, (ev.at, counter, ev))
            counter += 1
        fill = filler_events(world, fillers, start, end)
        next_fill = next(fill, None)

        def emit_until(limit: datetime | None) -> None:
            nonlocal next_fill
            while True:
                head = heap[0][0] if heap else None
                if next_fill is not None and (head is None or next_fill.at < head):
                    if limit is not None and next_fill.at >= limit:
                        return
                    chain.append(next_fill)
                    next_fill = next(fill, None)
                    continue
                if head is None or (limit is not None and head >= limit):
                    return
                chain.append(heapq.heappop(heap)[2])

        for i, (t0, state) in enumerate(plans):
            emit_until(t0)
            builder = ArticleBuilder(world, i + 1, state, versions_of.get(i, 1), t0, end, *shapes[i])
            builder.run(plan_steps(state, builder.versions, sizes.revisions))
            world.add("articles", builder.article_row())
            for ev in builder.events:
                heapq.heappush(heap, (ev.at, counter, ev))
                counter += 1
            if (i + 1) % world.chunk == 0:
                world.flush(["articles", "revisions", "review_assignments", "annotations", "annotation_replies",
                             "notifications"])
                progress.update(chain.seq, f"articles {i + 1:,}")
        emit_until(None)
        # top up with log-ins when the plan fell short of the requested count
        extra = sizes.events - chain.seq
        if extra > 0:
            last = max(end, now - timedelta(minutes=30))
            for ev in filler_events(world, extra, last, now):
                chain.append(ev)
        world.flush()
        progress.finish(f"articles {len(plans):,}")
        log(f"  writing {len(world.held['decisions']):,} decisions, "
            f"{len(world.held['published_versions']):,} published versions…")
        for pr in world.held["published_reviews"]:
            pr["decision_audit_seq"] = pr.pop("_decision")["audit_seq"]
        for name in ("decisions", "published_versions", "published_reviews"):
            rows = world.held[name]
            for k in range(0, len(rows), 5000):
                world.write(name, rows[k:k + 5000])
        conn.execute(text("UPDATE audit_head SET seq = :seq, hash = :hash, mac = :mac WHERE id = 1"),
                     {"seq": chain.seq, "hash": chain.prev, "mac": head_mac(chain.key, chain.seq, chain.prev)})
        if world.pg:
            for name in INSERT_ORDER:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"(SELECT COALESCE(MAX(id), 1) FROM {name}))"))
    if engine.dialect.name == "postgresql":
        log("  VACUUM ANALYZE (as autovacuum would after a load)…")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return BuildResult(time.perf_counter() - started, dict(world.counts), chain.seq, chain.prev, len(bodies.html))


def _events_in(steps: list[tuple], reviewers: int) -> int:
    """Exactly how many audit events ``ArticleBuilder.run`` records for a plan with this many reviewers."""
    n, open_annotations, made = 0, 0, 0
    for step, arg in steps:
        if step in ("annotate", "annotate_open"):
            n += arg
            open_annotations += arg
            made += arg
        elif step in ("assign", "approve"):
            n += reviewers
        elif step == "resolve":
            n += open_annotations
            open_annotations = 0
        elif step == "reply":
            n += 1 if made else 0
        elif step != "gap":
            n += 1
    return n
