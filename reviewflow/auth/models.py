"""People, their roles, versioned reviewer credential profiles, log-in throttles, API tokens, sign-in
sessions, invitations and password resets."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, and_
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from reviewflow.extensions import UTCDateTime, db, utcnow


class Role(enum.StrEnum):
    """The four roles; a person may hold several."""

    WRITER = "writer"
    REVIEWER = "reviewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class User(db.Model):
    """A person who signs in. Deactivated people keep their history but cannot act."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    bio: Mapped[str] = mapped_column(Text, default="")
    #: Bumped at log-out and password change: every session cookie carrying an older value stops working.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    #: The version number of the current reviewer profile (0: none).
    profile_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The IANA time zone the person's pages show times in (reviewflow.preferences); stored times stay UTC.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")

    # Loaded on demand: most queries show other people by name only. The signed-in user's roles and
    # profile are loaded with them (``services.with_roles``), and lists that show them load them too.
    role_rows: Mapped[list[UserRole]] = relationship(back_populates="user", cascade="all, delete-orphan")
    profile: Mapped[ReviewerProfile | None] = relationship(
        primaryjoin=lambda: and_(
            foreign(ReviewerProfile.user_id) == User.id, ReviewerProfile.version == User.profile_version
        ),
        viewonly=True,
        uselist=False,
    )

    @property
    def roles(self) -> list[str]:
        return sorted(r.role for r in self.role_rows)

    def has_role(self, role: str) -> bool:
        return any(r.role == role for r in self.role_rows)

    # Flask-Login protocol -------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_generation}"

    @property
    def display_name(self) -> str:
        """The name with post-nominal credentials, as bylines print it."""
        if self.profile and self.profile.credentials:
            return f"{self.name}, {self.profile.credentials}"
        return self.name


class UserRole(db.Model):
    """One role held by one person."""

    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    user: Mapped[User] = relationship(back_populates="role_rows")


class ReviewerProfile(db.Model):
    """One version of a reviewer's credentials. Never updated: a change adds a version.

    Sign-offs point at the exact version they were signed under.
    """

    __tablename__ = "reviewer_profiles"
    __table_args__ = (UniqueConstraint("user_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    #: Post-nominals as printed after the name, e.g. "M.D., Ph.D.".
    credentials: Mapped[str] = mapped_column(String(120))
    specialty: Mapped[str] = mapped_column(String(120))
    license_number: Mapped[str] = mapped_column(String(64))
    license_jurisdiction: Mapped[str] = mapped_column(String(120), default="")
    license_expires: Mapped[date] = mapped_column(Date)
    affiliation: Mapped[str] = mapped_column(String(200), default="")
    #: "Review provided by …" on the public page.
    organization: Mapped[str] = mapped_column(String(200), default="")
    bio: Mapped[str] = mapped_column(Text, default="")
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: How the admin checked this version, e.g. "licence looked up in the issuing board's public register".
    verification_method: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    def license_valid_on(self, day: date) -> bool:
        return self.license_expires >= day

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class LoginThrottle(db.Model):
    """Failed log-ins counted per account or per address, in the database so every worker agrees."""

    __tablename__ = "login_throttles"

    #: "email:<address>" or "ip:<address>".
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(db.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters of the token, so people can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Stamped at most once a minute, so using a token is not a write per request.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: After this moment the API answers the token 401; None: it lasts until revoked.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")

    def expired_at(self, moment: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= moment


class UserSession(db.Model):
    """One signed-in browser. The session cookie carries a random key; only its SHA-256 is stored here.

    The user loader refuses a cookie whose record is missing or ended, so ending a record signs that
    browser out wherever the cookie was copied to.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_id", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Stamped at most once a minute.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")


class Invitation(db.Model):
    """An admin's invitation to open an account: a one-time link (only its SHA-256 is stored) where the
    person sets their own password. Pending until accepted, revoked or past ``expires_at``."""

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("accepted_at IS NULL OR revoked_at IS NULL", name="accepted_or_revoked"),
        CheckConstraint("(accepted_at IS NULL AND user_id IS NULL) OR "
                        "(accepted_at IS NOT NULL AND user_id IS NOT NULL)", name="accepted_has_user"),
        Index("ix_invitations_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120))
    #: The roles the account gets, comma-separated.
    roles: Mapped[str] = mapped_column(String(100))
    bio: Mapped[str] = mapped_column(Text, default="")
    #: A reviewer's credential profile (JSON of ``PROFILE_FIELDS``), saved unverified on acceptance; "" for others.
    profile_json: Mapped[str] = mapped_column(Text, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When the link was last sent (a resend makes a new link and sends it again).
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The account made when the invitation was accepted.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def role_list(self) -> list[str]:
        return [r for r in self.roles.split(",") if r]


class PasswordReset(db.Model):
    """A request to reset a password by e-mail: a one-time link (only its SHA-256 is stored), valid an hour.

    A request for an address without an active account is kept too (``user_id`` empty, its link
    unusable): it costs the same work, and it counts towards the address's hourly limit.
    """

    __tablename__ = "password_resets"
    __table_args__ = (Index("ix_password_resets_email", "email", "created_at"),
                      Index("ix_password_resets_user_id", "user_id", "used_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Set when the link was used, or when it stopped counting (another reset or a password change).
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
