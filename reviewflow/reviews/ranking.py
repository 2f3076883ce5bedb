"""Which reviewer to suggest for an article, and why: the ranking of the assignment page.

Pure functions over plain facts (no database): ``reviews.services.suggested_reviewers`` gathers the
facts in a fixed number of queries and calls ``rank``. The order, one rule for every page:

1. reviewers who can be assigned before those who cannot (unverified, expired licence, inactive,
   the article's writer, already assigned: ``reviewer_unavailable_reason``);
2. a specialty that matches the article's topic first;
3. fewer open reviews first (the same count as the reviewer's own queue);
4. a faster past turnaround first (the median days from being able to start a revision to signing
   a decision on it, over the reviewer's latest decisions); nobody's history yet comes after it;
5. then by name, so equal reviewers keep a stable order.

Only an available reviewer whose specialty matches is ever preselected. When nobody available
matches, nothing is preselected and ``match_warning`` says so: the editor chooses deliberately. The
service still accepts any available reviewer, matching or not (the API takes ``reviewer_id`` alone):
the page's deliberate choice is the acknowledgement, and the audit event records the mismatch.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reviewflow.textrules import counted

_SPACES = re.compile(r"\s+")


def _norm(text: str | None) -> str:
    return _SPACES.sub(" ", (text or "").casefold()).strip()


def specialty_matches(topic: str | None, specialty: str | None) -> bool:
    """True when a reviewer's specialty covers the article's topic: either contains the other, ignoring
    case and spacing ("Nutrition" matches "Nutrition and Dietetics"). An empty one matches nothing."""
    topic, specialty = _norm(topic), _norm(specialty)
    return bool(topic) and bool(specialty) and (topic in specialty or specialty in topic)


def turnaround_words(days: float | None) -> str:
    """ "usually 3 days", "usually within a day", or "no signed reviews yet" (no history to go by)."""
    if days is None:
        return "no signed reviews yet"
    whole = round(days)
    return "usually within a day" if whole < 1 else f"usually {counted(whole, 'day')}"


@dataclass(frozen=True)
class Suggestion:
    """One reviewer as the assignment page weighs them."""

    #: The reviewer (a User with their current profile loaded), or any object with ``id`` and ``name``.
    user: Any
    specialty: str
    #: Their specialty matches the article's topic (``specialty_matches``).
    match: bool
    #: Their open reviews: open assignments on articles under review, as their queue counts them.
    workload: int
    #: Median days to a signed decision over their latest decisions; None without any.
    turnaround_days: float | None
    #: Why they cannot be assigned to this article, or None when they can.
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.reason is None

    @property
    def why(self) -> str:
        """The reasons of the ranking in words: "Dermatology · matches topic · 2 open reviews · usually 3 days"."""
        bits = [self.specialty or "no specialty"]
        if self.match:
            bits.append("matches topic")
        bits += [counted(self.workload, "open review"), turnaround_words(self.turnaround_days)]
        return " · ".join(bits)

    def sort_key(self) -> tuple:
        days = self.turnaround_days
        return (not self.available, not self.match, self.workload, days is None, days or 0.0,
                _norm(getattr(self.user, "name", "")), getattr(self.user, "id", 0))


def rank(suggestions: list[Suggestion]) -> list[Suggestion]:
    """The suggestions in the order the page offers them (see the module's docstring)."""
    return sorted(suggestions, key=Suggestion.sort_key)


def preselected(ranked: list[Suggestion]) -> Suggestion | None:
    """The reviewer the form starts with: the first of ``ranked`` when they are available and match the
    topic; otherwise nobody, so a reviewer outside the specialty is only ever chosen deliberately."""
    first = ranked[0] if ranked else None
    return first if first is not None and first.available and first.match else None


def match_warning(topic: str | None, ranked: list[Suggestion]) -> str | None:
    """What the page must say when no available reviewer matches the topic (None when one does, or when
    there is nobody to choose from at all)."""
    if not any(s.available for s in ranked) or preselected(ranked) is not None:
        return None
    topic = (topic or "").strip()
    if not topic:
        return ("This article has no topic, so no reviewer's specialty can match it. Nobody is preselected: "
                "choose a reviewer deliberately.")
    blocked = [s for s in ranked if s.match and not s.available]
    if blocked:
        names = ", ".join(getattr(s.user, "name", "") for s in blocked[:3]) + (" and others" if len(blocked) > 3
                                                                                else "")
        return (f"No available reviewer's specialty matches the topic “{topic}”: {names} "
                f"{'matches' if len(blocked) == 1 else 'match'} but cannot be assigned (see below). Nobody is "
                "preselected: choose a reviewer outside the specialty deliberately, or ask an admin about "
                "the matching reviewer's credentials.")
    return (f"No reviewer's specialty matches the topic “{topic}”. Nobody is preselected: choose a reviewer "
            "outside the specialty deliberately; the list is ranked by open reviews and past turnaround.")
