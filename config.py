"""Configuration of reviewflow, read from ``REVIEWFLOW_*`` environment variables.

``REVIEWFLOW_CONFIG`` picks the class (``default``, ``test``, ``production``);
``create_app`` also accepts the class or its name directly.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEV_SECRET = "dev-only-secret-key-change-me"
DEV_AUDIT_KEY = "dev-only-audit-key-change-me"
#: The shortest SECRET_KEY and audit key production accepts (256 bits, as HMAC-SHA256 wants).
SECRET_MIN_BYTES = 32


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


class Config:
    """Development defaults: SQLite under ``instance/``, a fixed development key."""

    NAME = "default"
    SECRET_KEY = _env("REVIEWFLOW_SECRET_KEY", DEV_SECRET)
    #: HMAC key of the audit chain; kept outside the database on purpose.
    AUDIT_KEY = _env("REVIEWFLOW_AUDIT_KEY", DEV_AUDIT_KEY)
    #: Earlier audit keys, "id:key,id:key", so events signed before a rotation still verify.
    AUDIT_OLD_KEYS = _env("REVIEWFLOW_AUDIT_OLD_KEYS", "")
    SQLALCHEMY_DATABASE_URI = _env(
        "REVIEWFLOW_DATABASE_URL", f"sqlite:///{ROOT / 'instance' / 'reviewflow.db'}"
    )
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    #: Request bodies over 1 MiB get 413 (PRODUCT.md); chunked ones too, counted by ``reviewflow.limits``.
    MAX_CONTENT_LENGTH = 1024 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None
    PASSWORD_MIN_LENGTH = 12
    #: Log-in limits (``auth.limits``): attempts per (account, address) pair before each further one
    #: waits 1 s, 2, 4 … up to ``LOGIN_MAX_DELAY_SECONDS``; failures per address over all accounts
    #: within ``LOGIN_ADDRESS_WINDOW_MINUTES``. No hard lock of an account: a stranger cannot keep
    #: its owner out. Wrong two-factor codes per account follow the same growing delays.
    LOGIN_FREE_ATTEMPTS = _int("REVIEWFLOW_LOGIN_FREE_ATTEMPTS", 5)
    LOGIN_MAX_DELAY_SECONDS = _int("REVIEWFLOW_LOGIN_MAX_DELAY_SECONDS", 900)
    LOGIN_ADDRESS_LIMIT = _int("REVIEWFLOW_LOGIN_ADDRESS_LIMIT", 30)
    LOGIN_ADDRESS_WINDOW_MINUTES = _int("REVIEWFLOW_LOGIN_ADDRESS_WINDOW_MINUTES", 15)
    #: Proxies in front of the app that append to ``X-Forwarded-For`` (0: the socket's peer is the client).
    TRUSTED_PROXIES = _int("REVIEWFLOW_TRUSTED_PROXIES", 0)
    #: ``Strict-Transport-Security``: None decides by itself (on in production unless the public URL is http://).
    HSTS: bool | None = None
    #: Roles that must sign in with a second factor (TOTP); off in development and tests, on in production.
    TWO_FACTOR_REQUIRED_ROLES = tuple(r for r in (_env("REVIEWFLOW_TWO_FACTOR_REQUIRED_ROLES", "") or "")
                                      .replace(",", " ").split() if r != "none")
    #: Name of the site in authenticator apps.
    TWO_FACTOR_ISSUER = _env("REVIEWFLOW_TWO_FACTOR_ISSUER", "reviewflow")
    #: Ticked by a reviewer at approval and kept with the signature.
    REVIEW_CHECKLIST = [
        "Medical facts checked against current clinical guidance",
        "Dosages, numbers and units checked",
        "Safety warnings and the 'When to see a clinician' section are appropriate",
        "Links go to reputable public-health sources",
    ]
    REREVIEW_MONTHS = 12
    #: The due date the assignment page proposes, in days from today (the editor may change it).
    REVIEW_DUE_DAYS = _int("REVIEWFLOW_REVIEW_DUE_DAYS", 7)
    #: ``flask remind-reviewers``: a reminder when a pending review falls due within this many days,
    #: then, once it is overdue, one at most every ``REVIEW_OVERDUE_REPEAT_DAYS`` days.
    REVIEW_REMINDER_DAYS_BEFORE = _int("REVIEWFLOW_REVIEW_REMINDER_DAYS_BEFORE", 2)
    REVIEW_OVERDUE_REPEAT_DAYS = _int("REVIEWFLOW_REVIEW_OVERDUE_REPEAT_DAYS", 3)
    MAIL_SERVER = _env("REVIEWFLOW_MAIL_SERVER")  # unset: the outbox logs instead of sending
    MAIL_PORT = _int("REVIEWFLOW_MAIL_PORT", 25)
    MAIL_FROM = _env("REVIEWFLOW_MAIL_FROM", "reviewflow@localhost")
    #: The public site's address as readers reach it, such as ``https://health.example.org`` (no
    #: trailing slash; a path is allowed when the app sits under one). Canonical links, JSON-LD,
    #: the feed, the sitemap, robots.txt and e-mails are built from it, never from the request's
    #: Host header. Unset (development): the request's own address, and relative links in e-mails.
    PUBLIC_URL = (_env("REVIEWFLOW_PUBLIC_URL") or "").rstrip("/") or None
    #: The publisher's name: the public site's header, titles and footer, the feed's author and
    #: JSON-LD ``publisher``. The staff pages keep the name of the tool, reviewflow.
    SITE_NAME = _env("REVIEWFLOW_SITE_NAME", "Demo Health Library")
    #: How long this process keeps a rendered public page; with ``publishing.views.LIVE_CACHE``'s
    #: ``max-age`` it bounds how late a reader sees a publish or withdrawal (1 + 1 seconds).
    PUBLIC_CACHE_SECONDS = 1.0
    #: Bounds of each process's cache of finished public pages (``publishing.pagecache``).
    PUBLIC_CACHE_ENTRIES = _int("REVIEWFLOW_PUBLIC_CACHE_ENTRIES", 20000)
    PUBLIC_CACHE_MAX_BYTES = _int("REVIEWFLOW_PUBLIC_CACHE_MB", 256) << 20
    PER_PAGE = 25
    TESTING = False

    @classmethod
    def check(cls) -> None:
        """Raise RuntimeError when ``PUBLIC_URL`` is not an absolute http(s) address without a query:
        every link readers and search engines get would be broken."""
        url = cls.PUBLIC_URL
        if url is not None and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", url):
            raise RuntimeError(f"REVIEWFLOW_PUBLIC_URL must be an http(s) address such as "
                               f"https://health.example.org, not {url!r}")


class TestConfig(Config):
    """Tests: a database from ``REVIEWFLOW_TEST_DATABASE_URL`` (SQLite file by default), no CSRF."""

    NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key"
    AUDIT_KEY = "test-audit-key"
    SQLALCHEMY_DATABASE_URI = _env("REVIEWFLOW_TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    #: Cheap Argon2 parameters so the suite stays fast; never in production.
    FAST_PASSWORD_HASHING = True
    #: One-step log-ins in tests; the two-factor tests turn the requirement on where they need it.
    TWO_FACTOR_REQUIRED_ROLES: tuple[str, ...] = ()


class ProductionConfig(Config):
    """Production: refuses to start without real secrets; secure cookies."""

    NAME = "production"
    SESSION_COOKIE_SECURE = _env("REVIEWFLOW_INSECURE_COOKIES") is None
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    #: Reviewers, editors and admins sign in with a second factor unless the variable says otherwise
    #: (``REVIEWFLOW_TWO_FACTOR_REQUIRED_ROLES=none`` turns it off).
    TWO_FACTOR_REQUIRED_ROLES = tuple(
        r for r in (_env("REVIEWFLOW_TWO_FACTOR_REQUIRED_ROLES", "reviewer editor admin") or "")
        .replace(",", " ").split() if r != "none")

    @classmethod
    def check(cls) -> None:
        """Raise RuntimeError when a secret is missing, is the development value or is shorter than 32 bytes."""
        super().check()
        for name, dev in (("REVIEWFLOW_SECRET_KEY", DEV_SECRET), ("REVIEWFLOW_AUDIT_KEY", DEV_AUDIT_KEY)):
            value = _env(name)
            if not value or value == dev or len(value.encode()) < SECRET_MIN_BYTES:
                raise RuntimeError(
                    f"{name} must be set to a random secret of at least {SECRET_MIN_BYTES} bytes in production, "
                    "for example: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'")


CONFIGS = {"default": Config, "test": TestConfig, "production": ProductionConfig}


def load(name_or_class=None):
    """Return the configuration class for a name, a class, or ``REVIEWFLOW_CONFIG``."""
    if isinstance(name_or_class, type):
        return name_or_class
    name = name_or_class or _env("REVIEWFLOW_CONFIG", "default")
    if name not in CONFIGS:
        raise RuntimeError(f"unknown REVIEWFLOW_CONFIG {name!r}; use one of {', '.join(CONFIGS)}")
    return CONFIGS[name]
