"""The site-wide Reports overview (issue 14): reports, crash groups and GitHub syncs over time.

Each chart is one aggregate query (GROUP BY a week or month bucket, ``TruncWeek`` /
``TruncMonth`` in UTC) returning tidy rows; the same rows feed the Plotly figure (built here,
on the server, with the plotly package), the table that is the chart's no-JavaScript and
accessible form, the CSV download and the API (triage/reports/api.py).

What the charts count, and when:

- ``reports-by-framework`` / ``reports-by-source``: reports, dated by when they were opened at
  their source (``created_at``), or when imported if the source gave no date. A report's source
  is its GitHub repository (``github:owner/name``, the part of the source id before ``#``), for a
  crash group the fuzzer of its first occurrence (``fuzzer:name``), otherwise the source id's
  prefix before ``:``.
- ``crash-groups``: new crash groups (by ``first_seen``; groups merged into another are left
  out, their occurrences count for the group they joined) and crash occurrences (by when the
  fuzzer found them, else when they were received).
- ``github-syncs``: sync runs (by when they were queued), the issues they fetched (new, updated,
  unchanged), pull requests seen and failed syncs, over the GitHub sources the user may see
  (their own for a curator, all for staff, none for others: a source is its owner's).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.db.models import Case, CharField, Count, F, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Concat, Left, StrIndex, TruncMonth, TruncWeek

from config import csvsafe
from config.errors import ApplicationError
from triage.models import CrashGroup, CrashOccurrence, Report, SyncRun

BUCKETS = ("auto", "week", "month")
WEEKLY_UP_TO_DAYS = 183  # "auto": weekly buckets for a range of up to about six months, else monthly
UTC = dt.UTC


@dataclass(frozen=True)
class OverviewRange:
    """The dates every chart covers (inclusive, UTC; ``None``: unbounded) and the bucket size."""

    start: dt.date | None = None
    end: dt.date | None = None
    bucket: str = "month"  # "week" or "month", never "auto" once parsed

    def filter(self, field: str) -> Q:
        q = Q()
        if self.start:
            q &= Q(**{f"{field}__gte": dt.datetime.combine(self.start, dt.time.min, tzinfo=UTC)})
        if self.end:
            q &= Q(**{f"{field}__lt": dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=UTC)})
        return q

    def trunc(self, field):
        return (TruncWeek if self.bucket == "week" else TruncMonth)(field, tzinfo=UTC)

    def as_params(self) -> dict[str, str]:
        """The query string that asks for this range again (for the CSV links)."""
        params = {"bucket": self.bucket}
        if self.start:
            params["from"] = self.start.isoformat()
        if self.end:
            params["to"] = self.end.isoformat()
        return params


def overview_range_from(params: Mapping[str, str]) -> OverviewRange:
    """Parse ``from``, ``to`` (YYYY-MM-DD, inclusive) and ``bucket`` (auto, week or month).

    ``auto`` (the default) is weekly when both dates are given and at most 183 days apart,
    monthly otherwise. Raises ApplicationError (400) naming every bad parameter.
    """
    problems, dates = [], {}
    for name in ("from", "to"):
        raw = (params.get(name) or "").strip()
        if not raw:
            dates[name] = None
            continue
        try:
            dates[name] = dt.date.fromisoformat(raw)
        except ValueError:
            problems.append(
                {"field": name, "message": f"'{raw}' is not a date: write it as YYYY-MM-DD, e.g. 2024-01-31."}
            )
    bucket = (params.get("bucket") or "auto").strip().lower()
    if bucket not in BUCKETS:
        problems.append({"field": "bucket", "message": f"'{bucket}' is not a bucket: use auto, week or month."})
    start, end = dates.get("from"), dates.get("to")
    if start and end and start > end:
        problems.append({"field": "to", "message": f"'to' ({end}) is before 'from' ({start}): swap them."})
    if problems:
        raise ApplicationError("; ".join(p["message"] for p in problems), details=problems)
    if bucket == "auto":
        bucket = "week" if start and end and (end - start).days <= WEEKLY_UP_TO_DAYS else "month"
    return OverviewRange(start=start, end=end, bucket=bucket)


# -- the charts' data: one aggregate query each -------------------------------------------------


def _report_source():
    """A report's source, in SQL: see the module docstring."""
    first_fuzzer = Subquery(
        CrashOccurrence.objects.filter(group_id=OuterRef("crash_group__id"))
        .order_by("received_at", "id")
        .values("fuzzer")[:1]
    )
    hash_at = StrIndex("source_id", Value("#"))
    colon_at = StrIndex("source_id", Value(":"))
    return Case(
        When(kind=Report.Kind.CRASH, then=Concat(Value("fuzzer:"), Coalesce(first_fuzzer, Value("unknown")))),
        When(Q(hash_at__gt=1), then=Left("source_id", F("hash_at") - 1)),
        When(Q(colon_at__gt=1), then=Left("source_id", F("colon_at") - 1)),
        default=Value("other"),
        output_field=CharField(),
    ), {"hash_at": hash_at, "colon_at": colon_at}


def _reports(rng: OverviewRange):
    return Report.objects.annotate(at=Coalesce("created_at", "imported_at")).filter(rng.filter("at"))


def reports_by_framework(rng: OverviewRange, user=None) -> list[dict]:
    rows = (
        _reports(rng)
        .annotate(period=rng.trunc("at"))
        .values("period", "framework")
        .annotate(reports=Count("id"))
        .order_by("period", "framework")
    )
    return [{"period": r["period"].date(), "framework": r["framework"], "reports": r["reports"]} for r in rows]


def reports_by_source(rng: OverviewRange, user=None) -> list[dict]:
    source, helpers = _report_source()
    rows = (
        _reports(rng)
        .annotate(**helpers)
        .annotate(period=rng.trunc("at"), source=source)
        .values("period", "source")
        .annotate(reports=Count("id"))
        .order_by("period", "source")
    )
    return [{"period": r["period"].date(), "source": r["source"], "reports": r["reports"]} for r in rows]


def crash_activity(rng: OverviewRange, user=None) -> list[dict]:
    """New groups and occurrences per bucket: one query (a UNION ALL of two GROUP BYs)."""
    groups = (
        CrashGroup.objects.filter(merged_into__isnull=True, first_seen__isnull=False)
        .filter(rng.filter("first_seen"))
        .annotate(period=rng.trunc("first_seen"), series=Value("new_groups", output_field=CharField()))
        .values("period", "series")
        .annotate(n=Count("id"))
        .values_list("period", "series", "n")
        .order_by()
    )
    occurrences = (
        CrashOccurrence.objects.annotate(at=Coalesce("created_at", "received_at"))
        .filter(rng.filter("at"))
        .annotate(period=rng.trunc("at"), series=Value("occurrences", output_field=CharField()))
        .values("period", "series")
        .annotate(n=Count("id"))
        .values_list("period", "series", "n")
        .order_by()
    )
    rows = sorted(groups.union(occurrences, all=True), key=lambda r: (r[0], r[1]))
    return [{"period": period.date(), "series": series, "count": n} for period, series, n in rows]


def github_sync_activity(rng: OverviewRange, user=None) -> list[dict]:
    from triage.github.selectors import github_sources_visible_to

    zero = Value(0, output_field=IntegerField())
    rows = (
        SyncRun.objects.filter(source__in=github_sources_visible_to(user).values("pk"))
        .filter(rng.filter("created_at"))
        .annotate(period=rng.trunc("created_at"))
        .values("period")
        .annotate(
            syncs=Count("id"),
            failed=Count("id", filter=Q(status=SyncRun.Status.FAILED)),
            issues_new=Coalesce(Sum("issues_new"), zero),
            issues_updated=Coalesce(Sum("issues_updated"), zero),
            issues_unchanged=Coalesce(Sum("issues_unchanged"), zero),
            pull_requests_seen=Coalesce(Sum("pull_requests_seen"), zero),
        )
        .order_by("period")
    )
    return [{**r, "period": r["period"].date()} for r in rows]


# -- the charts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverviewChart:
    id: str
    title: str
    description: str
    columns: tuple[str, ...]  # of the rows, the CSV and the JSON, in order
    rows: Callable[..., list[dict]]
    series: str | None = None  # the column whose values become the table's columns (and the traces)
    value: str | None = None  # the counted column, with ``series``

    def data(self, rng: OverviewRange, user) -> list[dict]:
        return self.rows(rng, user)


CHARTS: tuple[OverviewChart, ...] = (
    OverviewChart(
        "reports-by-framework",
        "Reports per framework",
        "Reports by the date they were opened at their source (import date when the source gave none).",
        ("period", "framework", "reports"),
        reports_by_framework,
        series="framework",
        value="reports",
    ),
    OverviewChart(
        "reports-by-source",
        "Reports per source",
        "The same reports by where they came from: a GitHub repository, or for a crash group the fuzzer that "
        "found it first.",
        ("period", "source", "reports"),
        reports_by_source,
        series="source",
        value="reports",
    ),
    OverviewChart(
        "crash-groups",
        "Crash groups",
        "New crash groups (first seen; merged-away groups left out) and crash occurrences (when the fuzzer "
        "found them).",
        ("period", "series", "count"),
        crash_activity,
        series="series",
        value="count",
    ),
    OverviewChart(
        "github-syncs",
        "GitHub sync activity",
        "Syncs of the GitHub sources you may see, the issues they fetched, pull requests seen and failed syncs.",
        ("period", "syncs", "failed", "issues_new", "issues_updated", "issues_unchanged", "pull_requests_seen"),
        github_sync_activity,
    ),
)
CHARTS_BY_ID = {chart.id: chart for chart in CHARTS}


def overview_chart(chart_id: str) -> OverviewChart:
    """The chart called ``chart_id``; ApplicationError (404) naming the charts there are otherwise."""
    try:
        return CHARTS_BY_ID[chart_id]
    except KeyError:
        raise ApplicationError(
            f"There is no chart '{chart_id}'. The charts are: {', '.join(CHARTS_BY_ID)}.", status=404
        ) from None


# -- rendering: table, CSV, figure ---------------------------------------------------------------


def period_label(period: dt.date, bucket: str) -> str:
    return f"week of {period.isoformat()}" if bucket == "week" else period.strftime("%Y-%m")


def chart_table(chart: OverviewChart, rows: list[dict], rng: OverviewRange) -> dict:
    """The table form of a chart: one row per period; the series' values as columns (or the columns)."""
    if chart.series:
        names = sorted({r[chart.series] for r in rows})
        cells: dict[dt.date, dict[str, int]] = {}
        for r in rows:
            cells.setdefault(r["period"], {})[r[chart.series]] = r[chart.value]
        body = [
            (period_label(period, rng.bucket), [values.get(name, 0) for name in names])
            for period, values in sorted(cells.items())
        ]
        return {"header": names, "body": body, "caption": f"{chart.value} per {rng.bucket}, by {chart.series}"}
    names = list(chart.columns[1:])
    body = [(period_label(r["period"], rng.bucket), [r[name] for name in names]) for r in rows]
    return {"header": names, "body": body, "caption": f"per {rng.bucket}"}


def chart_csv(chart: OverviewChart, rows: list[dict]) -> str:
    """The rows as CSV: a header of ``chart.columns``, periods as YYYY-MM-DD (the bucket's first day)."""
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(chart.columns)
    for r in rows:
        writer.writerow([r["period"].isoformat() if name == "period" else r[name] for name in chart.columns])
    return out.getvalue()


def chart_json_rows(chart: OverviewChart, rows: list[dict]) -> list[dict]:
    return [{name: (r[name].isoformat() if name == "period" else r[name]) for name in chart.columns} for r in rows]


def chart_figure(chart: OverviewChart, rows: list[dict], rng: OverviewRange) -> dict:
    """The Plotly figure (as the JSON-ready dict that plotly.js draws), built with plotly."""
    import json

    import plotly.graph_objects as go
    import plotly.io as pio

    fig = go.Figure()
    if chart.series:
        names = sorted({r[chart.series] for r in rows})
        for name in names:
            mine = [r for r in rows if r[chart.series] == name]
            fig.add_bar(name=name, x=[r["period"].isoformat() for r in mine], y=[r[chart.value] for r in mine])
        fig.update_layout(barmode="stack" if chart.id != "crash-groups" else "group", yaxis_title=chart.value)
    else:  # github-syncs: issues fetched as stacked bars, syncs and failures as lines on a second axis
        x = [r["period"].isoformat() for r in rows]
        for name in ("issues_new", "issues_updated", "issues_unchanged", "pull_requests_seen"):
            fig.add_bar(name=name, x=x, y=[r[name] for r in rows])
        for name in ("syncs", "failed"):
            fig.add_scatter(name=name, x=x, y=[r[name] for r in rows], mode="lines+markers", yaxis="y2")
        fig.update_layout(
            barmode="stack",
            yaxis_title="items fetched",
            yaxis2={"title": "syncs", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        )
    fig.update_layout(
        template="plotly_white",
        xaxis={"type": "date", "title": f"{rng.bucket} (UTC)"},
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 50, "r": 50, "t": 20, "b": 40},
        height=380,
    )
    return json.loads(pio.to_json(fig, validate=False))
