"""Finding an annotation's quote again in a later text (W3C TextQuoteSelector).

The quote must match exactly; when it occurs several times, the occurrence whose
surrounding text best matches the stored prefix and suffix wins, and the old
position breaks remaining ties.
"""
from __future__ import annotations

CONTEXT = 32


def context_of(text: str, start: int, quote: str) -> tuple[str, str]:
    """The prefix and suffix around ``quote`` found at ``start`` in ``text``."""
    return text[max(0, start - CONTEXT):start], text[start + len(quote):start + len(quote) + CONTEXT]


def _common_suffix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def locate(text: str, quote: str, prefix: str = "", suffix: str = "", position: int | None = None) -> int | None:
    """The start of the best match of ``quote`` in ``text``, or None when it is not there."""
    if not quote:
        return None
    starts, i = [], text.find(quote)
    while i != -1:
        starts.append(i)
        i = text.find(quote, i + 1)
    if not starts:
        return None

    def score(start: int) -> tuple[int, int]:
        before, after = context_of(text, start, quote)
        near = -abs(start - position) if position is not None else 0
        return (_common_suffix(before, prefix) + _common_prefix(after, suffix), near)

    return max(starts, key=score)
