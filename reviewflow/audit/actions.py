"""Every action the audit trail records, each with the words that tell it.

An action is a dotted verb stored as text in each event ("decision.signed"); the chain signs that
text, so a value here never changes once events carry it. ``audit.record`` refuses an action that
is not listed (a programming error), and the pages tell each event with its action's sentence.

To add an action, add one line to ``AuditAction``: its name, its stored text and its sentence::

    INVITATION_SENT = "invitation.sent", "invited {label}"

The sentence is the predicate after the actor's name ("Dana Okafor (admin) invited …"): a format
string over the fields of ``Told.fields`` (``{label}``, ``{text}``, ``{on_title}``…), or, when it
depends on the event's details, a small function taking a ``Told`` (see ``_signed`` below).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from reviewflow.textrules import counted


def quoted(value) -> str:
    return f"“{value}”" if value else ""


def _join(items) -> str:
    items = [str(i) for i in items or []]
    return ", ".join(items) if items else "none"


def _plural(n: int, word: str) -> str:
    return counted(n, word)


def _text_rev(title: str, rev: str, fallback: str = "the article") -> str:
    """ "“Eczema in winter” revision 3 (sha256 4f2a…9c1e)", with whichever parts are known."""
    return " ".join(x for x in (quoted(title), rev) if x) or fallback


@dataclass(frozen=True)
class Told:
    """What a sentence may say about one event."""

    #: The event's details (an empty dict when they are not a JSON object).
    d: dict
    #: The article's title ("" where the page is already about one article).
    title: str = ""
    #: The event's target label: a reviewer's email, an annotation's quote, a webhook's address…
    label: str = ""
    #: "revision 3 (sha256 4f2a…9c1e)", or "" when the event names no revision.
    rev: str = ""

    def text(self, fallback: str = "the article") -> str:
        """The title and revision: "“Eczema in winter” revision 3 (sha256 4f2a…9c1e)", or ``fallback``."""
        return _text_rev(self.title, self.rev, fallback)

    def part(self, key: str, words: str) -> str:
        """``words`` with the detail ``key`` in place of "{}", or "" when the event has no such detail."""
        value = self.d.get(key)
        return words.format(value) if value else ""

    @property
    def of_title(self) -> str:
        return f" of {quoted(self.title)}" if self.title else ""

    def fields(self) -> dict[str, str]:
        """The names a format-string sentence may use."""
        return {"label": self.label, "title": quoted(self.title) or "the article", "text": self.text(),
                "rev": self.rev, "of_title": self.of_title,
                "on_title": f" on {quoted(self.title)}" if self.title else "",
                "at_label": f" at {quoted(self.label)}" if self.label else ""}


# Sentences that depend on the details ------------------------------------------------------------

def _saved(t: Told) -> str:
    parts = [f"saved {t.text()}"]
    if t.d.get("note"):
        parts.append(f"note: {quoted(t.d['note'])}")
    if t.d.get("approvals_voided"):
        parts.append(f"this voided {_plural(len(t.d['approvals_voided']), 'approval')}")
    if t.d.get("annotations_orphaned"):
        parts.append(f"{_plural(len(t.d['annotations_orphaned']), 'annotation')} no longer matched the text")
    return "; ".join(parts)


def _assigned(t: Told) -> str:
    who = t.d.get("reviewer") or t.label or "a reviewer"
    kind = "re-review" if t.d.get("rereview") else "review"
    outside = " (outside their specialty)" if t.d.get("specialty_match") is False else ""
    return f"assigned {who} to {kind} {quoted(t.title) or 'the article'}{t.part('due_date', ', due {}')}{outside}"


def _reminded(t: Told) -> str:
    who = t.d.get("reviewer") or t.label or "the reviewer"
    what = f"the review{t.of_title}"
    if t.d.get("kind") == "overdue":
        count = t.d.get("count")
        again = f" (reminder {count})" if isinstance(count, int) and count > 1 else ""
        return f"reminded {who} that {what} is overdue{t.part('due_date', ', due {}')}{again}"
    return f"reminded {who} that {what} is due{t.part('due_date', ' on {}')}"


def _annotated(t: Told) -> str:
    kind = "a blocking annotation" if t.d.get("blocking") else "a suggestion"
    return f"added {kind}{f' at {quoted(t.label)}' if t.label else ''} to {t.text('the text')}"


def _signed(t: Told) -> str:
    d = t.d
    verb = "approved" if d.get("decision") == "approve" else "requested changes to"
    sentence = f"{verb} {t.text('the revision')}"
    held = ", ".join(x for x in (d.get("specialty"), f"licence {d['license_number']}"
                                 if d.get("license_number") else "") if x)
    if d.get("credentials"):
        sentence += f", signing with the credentials {d['credentials']}" + (f" ({held})" if held else "")
    return sentence + t.part("meaning", ": “{}”")


def _signing_failed(t: Told) -> str:
    what = "an approval of" if t.d.get("decision") == "approve" else "a request for changes to"
    return f"gave a wrong signing password for {what} {t.text('the revision')}; nothing was signed"


def _source_checked(t: Told) -> str:
    verdict = str(t.d.get("verdict") or "a verdict").replace("_", " ")
    return f"checked source [^{t.d.get('key', '?')}] of {t.text()}: {verdict}{t.part('comment', '; comment: “{}”')}"


def _source_flagged(t: Told) -> str:
    return (f"flagged source [^{t.d.get('key', '?')}] of {t.text()} as outdated, due for re-review"
            + t.part("comment", "; comment: “{}”"))


def _rereviewed(t: Told) -> str:
    version = f"version {t.d['version']}" if t.d.get("version") else "a new version"
    return f"completed the re-review of {t.text()}: {version} published with the same text"


def _unpublished(t: Told) -> str:
    return f"unpublished {quoted(t.title) or 'the article'}{t.part('reason', '; reason: “{}”')}"


def _scheduled(t: Told) -> str:
    months = t.d.get("months")
    every = f" to every {months[-1]} months" if isinstance(months, list) and months else ""
    return f"set the re-review interval{t.of_title}{every}{t.part('due', ' (next due {})')}"


def _login_failed(t: Told) -> str:
    failures = f" ({_plural(t.d['failures'], 'failure')} in a row)" if t.d.get("failures") else ""
    return f"failed to sign in as {t.d.get('email') or t.label or 'an unknown email'}{failures}"


def _account_created(t: Told) -> str:
    return (f"created the account of {t.d.get('name') or t.label} ({t.d.get('email') or t.label}) "
            f"with roles {_join(t.d.get('roles'))}")


def _roles_changed(t: Told) -> str:
    before, after = [*(t.d.get("roles") or []), [], []][:2]
    return f"changed the roles of {t.label} from {_join(before)} to {_join(after)}"


def _account_change(key: str, value) -> str:
    if key == "active" and isinstance(value, list) and len(value) == 2:
        return "reactivated the account" if value[1] else "deactivated the account"
    if key == "roles" and isinstance(value, list) and len(value) == 2:
        return f"roles {_join(value[0])} → {_join(value[1])}"
    if isinstance(value, list) and len(value) == 2:
        return f"{key} {quoted(value[0])} → {quoted(value[1])}"
    return f"{key} changed"


def _account_updated(t: Told) -> str:
    changes = [_account_change(key, value) for key, value in t.d.items()]
    return f"updated the account of {t.label}" + (f": {'; '.join(changes)}" if changes else "")


def _credentials_changed(t: Told) -> str:
    facts = ", ".join(x for x in (t.d.get("credentials"), t.d.get("specialty")) if x)
    return (f"saved credential profile{t.part('version', ' version {}')} of {t.label}: {facts}"
            f"{t.part('license_number', ', licence {}')}{t.part('license_expires', ' valid to {}')}")


def _credentials_verified(t: Told) -> str:
    facts = ", ".join(x for x in (t.part("version", "profile version {}"), t.part("license_number", "licence {}")) if x)
    return f"verified the credentials of {t.label}" + (f" ({facts})" if facts else "")


def _webhook_created(t: Told) -> str:
    events = f" for {_join(t.d['events'])}" if t.d.get("events") else ""
    return f"registered the webhook endpoint {t.label}{events}"


def _webhook_deleted(t: Told) -> str:
    count = t.d.get("deliveries_deleted")
    gone = f" with its {counted(count, 'delivery', 'deliveries')}" if isinstance(count, int) else ""
    return f"deleted the webhook endpoint {t.label}{gone}"


def _delivery_retried(t: Told) -> str:
    what = (t.part("delivery", "delivery {}") or "delivery") + t.part("event", " ({})")
    return f"retried {what} to the webhook endpoint {t.label}"


def _setting_changed(t: Told) -> str:
    name = t.label.removeprefix("site settings: ") or "a setting"
    return f"changed {name} of the public site" + (" back to its default" if t.d.get("default") else "")


def _recovery_code_used(t: Told) -> str:
    left = f" ({_plural(t.d['remaining'], 'code')} left)" if isinstance(t.d.get("remaining"), int) else ""
    return f"used a two-factor recovery code{left}"


def _preferences_changed(t: Told) -> str:
    zone = t.d.get("time_zone")
    if isinstance(zone, dict) and zone.get("to"):
        return f"changed their time zone from {zone.get('from') or 'UTC'} to {zone['to']}"
    return "changed their preferences"


def _email_preference_changed(t: Told) -> str:
    mode = t.d.get("email")
    words = {"immediately": "an e-mail for each notification", "hourly": "an hourly digest",
             "daily": "a daily digest", "off": "no e-mail (in-app only)"}
    if isinstance(mode, dict) and mode.get("to") in words:
        return f"chose {words[mode['to']]} for their notifications (was {words.get(mode.get('from'), 'the default')})"
    return "changed how they get notifications by e-mail"


Sentence = str | Callable[[Told], str]


class AuditAction(StrEnum):
    """Every action recorded in the audit trail: its stored text, and the sentence that tells it."""

    sentence: Sentence

    def __new__(cls, value: str, sentence: Sentence) -> AuditAction:
        member = str.__new__(cls, value)
        member._value_ = value
        member.sentence = sentence
        return member

    def tell(self, told: Told) -> str:
        """What the actor did, in words: "approved “Eczema in winter” revision 3 (sha256 …)"."""
        return self.sentence(told) if callable(self.sentence) else self.sentence.format_map(told.fields())

    # Articles and their review
    ARTICLE_CREATED = "article.created", lambda t: f"created the article {_text_rev(t.title or t.label, t.rev)}"
    REVISION_SAVED = "revision.saved", _saved
    ARTICLE_SUBMITTED = "article.submitted", "submitted {text} for review"
    REVIEWER_ASSIGNED = "reviewer.assigned", _assigned
    REVIEW_REMINDED = "review.reminded", _reminded
    REVIEWER_WITHDRAWN = "reviewer.withdrawn", \
        lambda t: f"withdrew {t.d.get('reviewer') or t.label or 'a reviewer'} from the review{t.of_title}"
    ANNOTATION_ADDED = "annotation.added", _annotated
    ANNOTATION_REPLIED = "annotation.replied", "replied to the annotation{at_label}{on_title}"
    ANNOTATION_RESOLVED = "annotation.resolved", "resolved the annotation{at_label}{on_title}"
    ANNOTATION_REOPENED = "annotation.reopened", "reopened the annotation{at_label}{on_title}"
    SOURCE_CHECKED = "source.checked", _source_checked
    SOURCE_FLAGGED = "source.flagged", _source_flagged
    DECISION_SIGNED = "decision.signed", _signed
    SIGNATURE_FAILED = "signature.failed", _signing_failed
    # Publishing
    ARTICLE_PUBLISHED = "article.published", lambda t: f"published {t.text()}{t.part('version', ' as version {}')}"
    ARTICLE_REREVIEWED = "article.rereviewed", _rereviewed
    ARTICLE_UNPUBLISHED = "article.unpublished", _unpublished
    REREVIEW_SCHEDULED = "rereview.scheduled", _scheduled
    # Signing in and accounts
    AUTH_LOGIN = "auth.login", "signed in"
    AUTH_LOGIN_FAILED = "auth.login_failed", _login_failed
    AUTH_LOGOUT = "auth.logout", "signed out, ending every session"
    ACCOUNT_CREATED = "account.created", _account_created
    ACCOUNT_ROLES_CHANGED = "account.roles_changed", _roles_changed
    ACCOUNT_UPDATED = "account.updated", _account_updated
    ACCOUNT_PASSWORD_CHANGED = "account.password_changed", "changed their password, ending their other sessions"
    CREDENTIALS_CHANGED = "credentials.changed", _credentials_changed
    CREDENTIALS_VERIFIED = "credentials.verified", _credentials_verified
    TOKEN_CREATED = "token.created", lambda t: f"created the API token {t.label}{t.part('name', ' named “{}”')}"
    TOKEN_REVOKED = "token.revoked", "revoked the API token {label}"
    ACCOUNT_PASSWORD_RESET = "account.password_reset", "reset their password by e-mail, ending every session"
    ACCOUNT_PREFERENCES_CHANGED = "account.preferences_changed", _preferences_changed
    ACCOUNT_EMAIL_PREFERENCE_CHANGED = "account.email_preference_changed", _email_preference_changed
    AUTH_PASSWORD_RESET_REQUESTED = "auth.password_reset_requested", \
        lambda t: f"asked for a password reset link for {t.d.get('email') or t.label}"
    AUTH_SESSIONS_ENDED = "auth.sessions_ended", \
        lambda t: f"signed out everywhere else ({_plural(t.d.get('ended') or 0, 'session')} ended)"
    AUTH_CODE_FAILED = "auth.code_failed", "entered a wrong two-factor code while signing in"
    TWO_FACTOR_ENABLED = "two_factor.enabled", "turned on two-factor sign-in"
    TWO_FACTOR_DISABLED = "two_factor.disabled", "turned off two-factor sign-in"
    TWO_FACTOR_RECOVERY_CODE_USED = "two_factor.recovery_code_used", _recovery_code_used
    INVITATION_CREATED = "invitation.created", lambda t: (
        f"invited {t.d.get('name') or t.label} ({t.d.get('email') or t.label}) with roles {_join(t.d.get('roles'))}")
    INVITATION_RESENT = "invitation.resent", \
        lambda t: f"sent the invitation to {t.d.get('email') or t.label} again, with a new link"
    INVITATION_REVOKED = "invitation.revoked", lambda t: f"revoked the invitation to {t.d.get('email') or t.label}"
    INVITATION_ACCEPTED = "invitation.accepted", lambda t: (
        f"accepted their invitation, opening the account {t.label} with roles {_join(t.d.get('roles'))}")
    # Administration
    WEBHOOK_CREATED = "webhook.created", _webhook_created
    WEBHOOK_ACTIVATED = "webhook.activated", "activated the webhook endpoint {label}"
    WEBHOOK_DEACTIVATED = "webhook.deactivated", "deactivated the webhook endpoint {label}"
    WEBHOOK_DELETED = "webhook.deleted", _webhook_deleted
    WEBHOOK_PINGED = "webhook.pinged", "sent a test ping to the webhook endpoint {label}"
    WEBHOOK_DELIVERY_RETRIED = "webhook.delivery_retried", _delivery_retried
    SITE_SETTING_CHANGED = "site.setting_changed", _setting_changed


#: Every registered action by its stored text.
BY_TEXT: dict[str, AuditAction] = {action.value: action for action in AuditAction}


def registered(action: str) -> AuditAction:
    """The registered action stored as ``action``; ValueError for one nobody registered (a programming error)."""
    found = BY_TEXT.get(action) if isinstance(action, str) else None
    if found is None:
        raise ValueError(f"Unknown audit action {action!r}: add it to AuditAction in "
                         "reviewflow/audit/actions.py, with its sentence.")
    return found
