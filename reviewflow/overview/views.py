"""The editorial overview page (editors and admins)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from reviewflow import policy
from reviewflow.extensions import utcnow
from reviewflow.overview import charts, queries
from reviewflow.textrules import human_date

bp = Blueprint("overview", __name__)


@bp.get("/editorial")
@login_required
def overview():
    """Review turnaround, overdue reviews, re-reviews due and decisions per reviewer, as charts and tables."""
    policy.require(current_user, "overview.view")
    numbers = queries.overview(utcnow().date())
    return render_template("overview/overview.html", numbers=numbers, drawn=_charts(numbers),
                           tables=_tables(numbers))


@dataclass(frozen=True)
class Table:
    """A chart's numbers as a table: the first column names the row, the others are numbers."""

    caption: str
    columns: tuple[str, ...]
    rows: list[tuple]


def _days(value: float | None) -> float | str:
    return "—" if value is None else value


def _tables(numbers: queries.Overview) -> dict[str, Table]:
    return {
        "turnaround": Table(
            "Days from a revision reaching its reviewer to the signed decision, by week of signing",
            ("Week of", "Decisions", "Median (days)", "90th percentile (days)"),
            [(human_date(w.start), w.count, _days(w.median_days), _days(w.p90_days)) for w in numbers.turnaround]),
        "overdue": Table("Pending reviews past their due date", ("Reviewer", "Overdue"), numbers.overdue),
        "rereviews": Table("Live articles by the month their re-review falls due", ("Month", "Articles"),
                           numbers.rereviews),
        "decisions": Table(f"Decisions signed in the last {queries.DECISION_DAYS} days",
                           ("Reviewer", "Approved", "Changes requested"), numbers.decisions),
    }


def _charts(numbers: queries.Overview) -> dict:
    weeks = numbers.turnaround
    return {
        "turnaround": charts.bars(
            "Review turnaround per week", "Median and 90th percentile of days from a revision reaching its "
            "reviewer to the signed decision, by week of signing.",
            [w.start.strftime("%d %b") for w in weeks],
            [charts.Series("Median", [w.median_days for w in weeks], "s1"),
             charts.Series("90th percentile", [w.p90_days for w in weeks], "s2")], unit=" d"),
        "overdue": charts.bars(
            "Reviews overdue", "Pending reviews past their due date, per reviewer.",
            [name for name, _ in numbers.overdue],
            [charts.Series("Overdue", [n for _, n in numbers.overdue], "s2")]) if numbers.overdue else None,
        "rereviews": charts.bars(
            "Re-reviews due by month", "Live articles by the month their medical re-review falls due; "
            "the first bar counts those already overdue.",
            [label.split()[0][:3] for label, _ in numbers.rereviews],  # "Ove", "Dec", "Jan": the table has years
            [charts.Series("Articles", [n for _, n in numbers.rereviews], "s1")]),
        "decisions": charts.bars(
            "Decisions per reviewer", f"Approvals and requests for changes signed in the last "
            f"{queries.DECISION_DAYS} days, per reviewer.",
            [name for name, _, _ in numbers.decisions] or ["None"],
            [charts.Series("Approved", [a for _, a, _ in numbers.decisions] or [0], "s1"),
             charts.Series("Changes requested", [c for _, _, c in numbers.decisions] or [0], "s2")]),
    }
