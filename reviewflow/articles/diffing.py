"""Readable differences between two revisions: inline and side by side, changed words marked."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from markupsafe import Markup, escape

_TOKENS = re.compile(r"\s+|[^\s]+")


def _words(text: str) -> list[str]:
    return _TOKENS.findall(text)


def inline_diff(old: str, new: str) -> Markup:
    """One text with deletions in <del> and insertions in <ins>, word by word."""
    a, b = _words(old), _words(new)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape("".join(a[i1:i2])))
        if op in ("delete", "replace"):
            out.append(Markup("<del>%s</del>") % "".join(a[i1:i2]))
        if op in ("insert", "replace"):
            out.append(Markup("<ins>%s</ins>") % "".join(b[j1:j2]))
    return Markup("").join(out)


@dataclass
class Row:
    kind: str  # "equal", "changed", "added", "removed"
    left: Markup
    right: Markup
    left_no: int | None
    right_no: int | None


def side_by_side(old: str, new: str) -> list[Row]:
    """Rows of old and new lines; changed lines carry word-level marks on both sides."""
    a, b = old.replace("\r\n", "\n").split("\n"), new.replace("\r\n", "\n").split("\n")
    rows: list[Row] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            rows += [Row("equal", escape(a[i]), escape(b[j1 + k]), i + 1, j1 + k + 1)
                     for k, i in enumerate(range(i1, i2))]
            continue
        left, right = a[i1:i2], b[j1:j2]
        for k in range(max(len(left), len(right))):
            lo = left[k] if k < len(left) else None
            ro = right[k] if k < len(right) else None
            if lo is not None and ro is not None:
                rows.append(Row("changed", _mark(lo, ro, "del"), _mark(lo, ro, "ins"), i1 + k + 1, j1 + k + 1))
            elif lo is not None:
                rows.append(Row("removed", Markup("<del>%s</del>") % lo, Markup(""), i1 + k + 1, None))
            else:
                rows.append(Row("added", Markup(""), Markup("<ins>%s</ins>") % ro, None, j1 + k + 1))
    return rows


def _mark(old: str, new: str, side: str) -> Markup:
    a, b = _words(old), _words(new)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        chunk = "".join(a[i1:i2]) if side == "del" else "".join(b[j1:j2])
        if op == "equal":
            out.append(escape(chunk))
        elif chunk:
            out.append(Markup(f"<{side}>%s</{side}>") % chunk)
    return Markup("").join(out)


def stats(old: str, new: str) -> tuple[int, int]:
    """Words added and removed."""
    added = removed = 0
    a, b = old.split(), new.split()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            removed += i2 - i1
        if op in ("insert", "replace"):
            added += j2 - j1
    return added, removed
