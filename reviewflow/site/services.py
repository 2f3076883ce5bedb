"""Reading and saving the public site's settings: logo, editorial policy and medical disclaimer.

Each setting is one ``site_settings`` row. An empty or missing value means the default below, so a
new site already has a policy page and a disclaimer worth reading. Reading is cheap: the settings
are kept in the process's public page cache (``public.pagecache.public_cache``) and saving one
empties that cache when it commits, like a publish does; other processes catch up within
``PUBLIC_CACHE_SECONDS``. Every change is an audit event in the same transaction (``site.setting_changed``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from markupsafe import Markup
from sqlalchemy import select

from reviewflow import policy
from reviewflow.articles.rendering import render_markdown
from reviewflow.audit import services as audit
from reviewflow.audit.actions import AuditAction
from reviewflow.errors import InvalidInput
from reviewflow.extensions import db, utcnow
from reviewflow.public.pagecache import public_cache, public_changed
from reviewflow.site.models import SiteSetting
from reviewflow.textrules import check_multi_line, one_line

LOGO_URL, POLICY, DISCLAIMER = "logo_url", "editorial_policy", "disclaimer"
#: The settings an admin edits, with the longest value each may hold.
LIMITS = {LOGO_URL: 2000, POLICY: 20_000, DISCLAIMER: 2_000}

def _unwrap(text: str) -> str:
    """Markdown written wrapped in the source, as an admin edits it: one line per paragraph or list item."""
    blocks = []
    for block in text.strip().split("\n\n"):
        lines: list[str] = []
        for line in block.splitlines():
            if lines and not line.startswith(("- ", "#")):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


DEFAULT_POLICY = _unwrap("""\
Every article on this site is written by a health writer and checked by a medical reviewer before
readers see it. This page says how.

## Who reviews our articles

Our medical reviewers are licensed health professionals: physicians, pharmacists, nurses and other
clinicians. Before anyone reviews for us, we check their credentials and licence with the body that
issued them and record how. Each reviewer's page lists their current credentials and when we
verified them.

## How an article is reviewed

- The reviewer reads the exact text that will be published, checks every number and dosage, and checks
  that each claim is supported by the sources cited.
- Questions and corrections go back to the writer until the reviewer is satisfied.
- The reviewer then signs their approval of that exact text with their password. Nothing is published
  without a signed approval, and an editor who neither wrote nor reviewed the article publishes it.

## Keeping articles current

Every article is medically re-reviewed at a set interval, usually every year. Each article says when it
was last reviewed and, under "How we reviewed this article", lists every version with who reviewed it.
When the text changes, the change is reviewed before it is published.

## Corrections

If you think something on this site is wrong or out of date, tell us. We review the article again and,
when we change it, say what changed.

## Independence

Advertisers and sponsors have no say in what we publish or in how it is reviewed.
""")

DEFAULT_DISCLAIMER = (
    "The information on this site is for general education and is not a substitute for professional medical "
    "advice, diagnosis or treatment. Always ask your doctor or another qualified health professional about a "
    "medical condition or treatment. If you think you may have a medical emergency, call your local emergency "
    "number at once."
)
DEFAULTS = {LOGO_URL: "", POLICY: DEFAULT_POLICY, DISCLAIMER: DEFAULT_DISCLAIMER}
#: Each setting in words: flash messages and the audit event's target.
LABELS = {LOGO_URL: "the logo", POLICY: "the editorial policy", DISCLAIMER: "the medical disclaimer"}
CACHE_KEY = ("site_settings",)


@dataclass(frozen=True)
class SiteSettings:
    """The settings as readers see them: stored values, else the defaults."""

    logo_url: str
    editorial_policy: str
    disclaimer: str
    #: Which settings hold a stored value (the others show the default).
    customised: frozenset[str]
    updated_at: datetime | None

    @property
    def policy_html(self) -> Markup:
        return Markup(render_markdown(self.editorial_policy))

    @property
    def disclaimer_html(self) -> Markup:
        return Markup(render_markdown(self.disclaimer))


def stored() -> dict[str, SiteSetting]:
    """The stored rows by key (one query)."""
    return {row.key: row for row in db.session.scalars(select(SiteSetting).where(SiteSetting.key.in_(LIMITS)))}


def current() -> SiteSettings:
    """The site's settings, from this process's cache for up to ``PUBLIC_CACHE_SECONDS``."""
    cache = public_cache()
    found = cache.get(CACHE_KEY)
    if found is None:
        found = settings_from(stored())
        cache.put(CACHE_KEY, found)
    return found


def settings_from(rows: dict[str, SiteSetting]) -> SiteSettings:
    """The settings readers see, given the stored rows: a missing or empty value is the default."""
    values = {key: (rows[key].value if key in rows and rows[key].value.strip() else DEFAULTS[key]) for key in LIMITS}
    times = [r.updated_at for r in rows.values()]
    return SiteSettings(**values, customised=frozenset(k for k, r in rows.items() if r.value.strip()),
                        updated_at=max(times) if times else None)


def check_logo_url(value: str) -> str:
    """A logo's address: an ``https://`` URL or a path on this site such as ``/static/logo.svg``.

    Raises InvalidInput for anything else (``http:`` would be mixed content, ``data:`` and
    ``javascript:`` are refused outright), so the header never loads what the page's
    Content-Security-Policy would block.
    """
    value = one_line(value, "logo_url", LIMITS[LOGO_URL], required=False)
    if not value:
        return ""
    parts = urlsplit(value)
    if "\\" in value or re.search(r"\s", value):  # browsers read /\host as //host
        raise InvalidInput("The logo's address cannot hold spaces or backslashes.", field="logo_url")
    if value.startswith("/") and not value.startswith("//") and not parts.scheme:
        return value
    if parts.scheme == "https" and parts.netloc:
        return value
    raise InvalidInput("The logo must be an https:// address or a path on this site such as /static/logo.svg.",
                       field="logo_url")


def _clean(key: str, value) -> str:
    if key == LOGO_URL:
        return check_logo_url(value)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"The {key.replace('_', ' ')} must be text.", field=key)
    value = check_multi_line(value.replace("\r\n", "\n"), key).strip()
    if len(value) > LIMITS[key]:
        raise InvalidInput(f"The {key.replace('_', ' ')} is longer than {LIMITS[key]:,} characters.", field=key)
    return value


def save_settings(actor, values: dict) -> list[str]:
    """Store the given settings (admins); an empty value, or the default itself, means the default.

    Each setting whose value changes is one ``site.setting_changed`` audit event with the new
    value, in the caller's transaction; unchanged ones write nothing. Returns the changed keys.
    Raises Forbidden for anyone but an admin and InvalidInput (naming the field) for a bad value,
    before anything is written.
    """
    policy.require(actor, "admin.manage")
    cleaned = {key: _clean(key, values[key]) for key in LIMITS if key in values}
    cleaned = {key: "" if value == DEFAULTS[key].strip() else value for key, value in cleaned.items()}
    rows, changed, now = stored(), [], utcnow()
    for key, value in cleaned.items():
        row = rows.get(key)
        before = row.value if row is not None else ""
        if value == before:
            continue
        if row is None:
            row = SiteSetting(key=key)
            db.session.add(row)
        row.value, row.updated_at, row.updated_by_id = value, now, actor.id
        changed.append(key)
        audit.record(AuditAction.SITE_SETTING_CHANGED, actor=actor, role="admin", target_type="site_setting",
                     target_label=f"site settings: {LABELS[key]}",
                     details={"key": key, "value": value, "default": not value})
    if changed:
        public_changed()
    return changed
