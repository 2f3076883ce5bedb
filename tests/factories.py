"""Plain factory functions: people and articles in a given state, built through the real services."""
from __future__ import annotations

import itertools

from flask import Flask, g
from sqlalchemy import func, select, text

import config
from reviewflow import create_app
from reviewflow.articles import services as articles
from reviewflow.articles.models import Article
from reviewflow.audit.models import AuditEvent
from reviewflow.auth import services as accounts
from reviewflow.extensions import db
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews

PASSWORD = "Corr3ct-Horse-Battery"
#: Every item of the review checklist: what an approval attests.
CHECKLIST = list(config.Config.REVIEW_CHECKLIST)
BODY = """# Living with eczema in winter

Cold air and low humidity dry the skin barrier. Moisturize within three minutes of bathing.

Short lukewarm showers help more than long hot baths.

Wool and rough fabrics can trigger itching; cotton layers are gentler.
"""
_seq = itertools.count(1)


def make_user(*roles: str, name: str | None = None, email: str | None = None, credentials: str = "M.D.",
              specialty: str = "Dermatology", license_expires: str = "2099-12-31", verified: bool = True,
              **profile):
    """A person with these roles; a reviewer gets a credential profile, verified by an admin unless
    ``verified=False`` (only verified reviewers can be assigned or sign)."""
    n = next(_seq)
    name = name or f"Person {n}"
    email = email or f"person{n}@example.org"
    data = None
    if "reviewer" in roles:
        data = {"credentials": credentials, "specialty": specialty, "license_number": f"LIC-{n}",
                "license_expires": license_expires, "affiliation": profile.get("affiliation", "Lakeside Clinic"),
                "organization": profile.get("organization", "Northwind Review Network"),
                "license_jurisdiction": "Georgia, USA", "bio": "A reviewer."}
    user = accounts.create_user(None, email, name, PASSWORD, list(roles), bio="A bio.", profile=data)
    db.session.commit()
    if data is not None and verified:
        verify(user)
    return user


VERIFIER_EMAIL = "credentials-desk@example.org"
METHOD = "Licence looked up in the issuing board's public register."


def verify(reviewer, by=None, method: str = METHOD):
    """Record that an admin (``by``, else the test credentials desk) verified the reviewer's current credentials."""
    admin = by or accounts.find_user(VERIFIER_EMAIL) or make_user("admin", name="Credentials Desk",
                                                                   email=VERIFIER_EMAIL)
    profile = accounts.verify_profile(admin, reviewer, method)
    db.session.commit()
    return profile


def token_for(user) -> str:
    _, plain = accounts.create_token(None, user, "test")
    db.session.commit()
    return plain


def make_article(writer, state: str = "draft", reviewer=None, editor=None, title: str = "Eczema in winter",
                 body: str = BODY, topic: str = "Dermatology") -> Article:
    """An article walked through the real services to ``state``: draft, submitted, in_review,
    changes_requested, approved or published (in_review and later need reviewer and editor)."""
    article = articles.create_article(writer, title, body, topic)
    db.session.commit()
    if state == "draft":
        return article
    articles.submit_article(writer, article)
    db.session.commit()
    if state == "submitted":
        return article
    reviews.assign_reviewer(editor, article, reviewer.id)
    db.session.commit()
    if state == "in_review":
        return article
    decision = "request_changes" if state == "changes_requested" else "approve"
    reviews.sign_decision(reviewer, article, article.current_revision, decision, PASSWORD, comment="Needs a source.",
                          checklist=CHECKLIST if decision == "approve" else None)
    db.session.commit()
    if state in ("changes_requested", "approved"):
        return article
    publishing.publish_revision(editor, article, article.current_revision, "First published.")
    db.session.commit()
    assert state == "published", state
    return article


def make_app(url: str | None = None, base: type = config.TestConfig, **settings) -> Flask:
    """The one way tests build an app: ``base`` (the test configuration) on the database ``url``
    (``REVIEWFLOW_TEST_DATABASE_URL`` or ``TestConfig``'s own when None), with ``settings`` as extra
    configuration, e.g. ``make_app(url, WTF_CSRF_ENABLED=True)``.

    Each request loads its own signed-in person: tests keep one app context open around many requests,
    and those share its ``g``, where Flask-Login caches the user. Without this a second client (or a
    copied cookie, or a deactivated account) would silently act as whoever signed in last.

    A second app on the database of a running transactional test (``make_app(app.config[
    "SQLALCHEMY_DATABASE_URI"], TRUSTED_PROXIES=1)``) joins that test's transaction, as the first does.
    """
    attrs = dict(settings)
    if url is not None:
        attrs["SQLALCHEMY_DATABASE_URI"] = url
    app = create_app(type("TestApp", (base,), attrs))
    app.before_request_funcs.setdefault(None, []).insert(0, _forget_cached_user)
    join = JOIN_TEST_TRANSACTION.get(app.config["SQLALCHEMY_DATABASE_URI"])
    if join is not None:
        with app.app_context():
            join(db.engine)
    return app


#: Set by conftest's ``app`` fixture while a transactional test runs: database URL -> a function that
#: lends that test's connection to another engine on the same database.
JOIN_TEST_TRANSACTION: dict = {}


def _forget_cached_user() -> None:
    g.pop("_login_user", None)


class Clock:
    """A clock the test moves (``clock.now += 1.5``) instead of sleeping; what ``TTLCache`` and the other
    timed parts take as ``clock``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def empty_schema() -> None:
    """An empty schema on the current app's database: PostgreSQL's public schema dropped and made
    again, then every table made with ``create_all`` (the audit triggers and chain head with them)."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    db.create_all()


def event_count() -> int:
    """How many audit events the chain holds now."""
    return db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def events_after(seq: int) -> list:
    """The audit events appended after sequence number ``seq``, in chain order."""
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def last_seq() -> int:
    """The sequence number of the newest audit event (0 for an empty chain)."""
    return db.session.scalar(select(func.max(AuditEvent.seq))) or 0
