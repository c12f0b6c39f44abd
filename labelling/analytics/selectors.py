"""The chart data of a study, each chart ONE aggregate query (GROUP BY in the database).

Every function takes the study, its ``ChartFilters`` and what the chart is about, and returns
plain rows of (group values..., count). Multiple-choice labels are stored as codes joined by
``;``: they are grouped by the stored value in SQL (a few distinct sets) and split into categories
here, so a label holding two categories counts once for each. Access is the caller's business
(``labelling.permissions.can_view_analytics``).
"""

from __future__ import annotations

from collections import Counter

from django.db import connection
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncDate

from labelling.analytics.filters import ANNOTATORS, ChartFilters
from labelling.models import Annotation, Assignment, Dimension, FinalLabel, Study, StudyItem
from labelling.values import SEPARATOR
from triage.models import Report, Reproduction, ReproductionRun

# Columns a crosstab may be taken against besides another dimension.
FRAMEWORK, KIND, LABEL, VERDICT = "framework", "kind", "label", "verdict"
REPORT_COLUMNS = (FRAMEWORK, KIND, LABEL, VERDICT)
NO_LABEL = "(no source label)"
NOT_RUN = "not_run"
# Time spent on one item by one annotator (sum over its dimensions): bucket upper bounds in seconds.
TIME_BUCKETS = [(30, "< 30 s"), (60, "30 s - 1 min"), (120, "1 - 2 min"), (300, "2 - 5 min"), (600, "5 - 10 min"),
                (1200, "10 - 20 min"), (1800, "20 - 30 min")]  # fmt: skip
TIME_LAST_BUCKET = ">= 30 min"
FUNNEL_STAGES = ("ingested", "in_study", "screened", "included", "labelled", "final")


def _labels(study: Study, filters: ChartFilters, dimensions: list[Dimension]):
    """The label rows counted for ``dimensions``: final labels, or every annotator's labels.

    A dimension belongs to one study's codebook, so its labels are that study's: the join to the
    items (and their reports) is made only when a filter restricts them."""
    model = Annotation if filters.labels == ANNOTATORS else FinalLabel
    labels = model.objects.filter(dimension__in=dimensions).exclude(value="").order_by()
    if filters.restricts_items:
        labels = labels.filter(item__study=study).filter(filters.item_q("item__"))
    return labels


def split(value: str, dimension: Dimension) -> list[str]:
    """The categories of one stored value (one for single choice, the set for multiple choice)."""
    if dimension.kind == Dimension.Kind.MULTI:
        return [c for c in value.split(SEPARATOR) if c]
    return [value]


def distributions(
    *, study: Study, filters: ChartFilters, dimensions: list[Dimension]
) -> dict[int, tuple[Counter, int]]:
    """{dimension id: ({category code: labels holding it}, labels counted)} for ``dimensions``, in
    ONE query grouped by dimension and value."""
    by_id = {d.pk: d for d in dimensions}
    result = {d.pk: (Counter(), 0) for d in dimensions}
    for dimension_id, value, n in (
        _labels(study, filters, dimensions).values_list("dimension_id", "value").annotate(n=Count("id"))
    ):
        counts, total = result[dimension_id]
        for code in split(value, by_id[dimension_id]):
            counts[code] += n
        result[dimension_id] = (counts, total + n)
    return result


def distribution(*, study: Study, filters: ChartFilters, dimension: Dimension) -> tuple[Counter, int]:
    """({category code: labels holding it}, labels counted) for ``dimension``: one GROUP BY value."""
    return distributions(study=study, filters=filters, dimensions=[dimension])[dimension.pk]


def _latest_verdict():
    """The verdict of a report's latest finished reproduction run (a correlated subquery on Report)."""
    return Subquery(
        ReproductionRun.objects.filter(reproducer__report=OuterRef("item__report"))
        .exclude(verdict="")
        .order_by("-finished_at", "-id")
        .values("verdict")[:1]
    )


def crosstab(*, study: Study, filters: ChartFilters, rows: Dimension, cols: Dimension | str) -> Counter:
    """{(row category, column value): count}: ``rows`` against another dimension (labels of the
    same item; with every annotator's labels, the same annotator's) or against a report column
    (``framework``, ``kind``, ``label``: the report's source labels, ``verdict``: its latest
    reproduction verdict, ``not_run`` when none). One GROUP BY query."""
    labels = _labels(study, filters, [rows])
    if isinstance(cols, Dimension):
        if filters.labels == ANNOTATORS:
            pair = Q(item__annotations__dimension=cols, item__annotations__annotator=F("annotator"))
            labels, column = labels.filter(pair).exclude(item__annotations__value=""), "item__annotations__value"
        else:
            pair = Q(item__final_labels__dimension=cols)
            labels, column = labels.filter(pair).exclude(item__final_labels__value=""), "item__final_labels__value"
    elif cols == VERDICT:
        labels, column = labels.annotate(col=_latest_verdict()), "col"
    else:
        column = {
            FRAMEWORK: "item__report__framework",
            KIND: "item__report__kind",
            LABEL: "item__report__source_labels__name",
        }[cols]  # noqa: E501
    table: Counter = Counter()
    for value, col, n in labels.values_list("value", column).annotate(n=Count("id")):
        col_values = (
            split(col, cols) if isinstance(cols, Dimension) else [col or (NO_LABEL if cols == LABEL else NOT_RUN)]
        )
        for code in split(value, rows):
            for c in col_values:
                table[(code, c)] += n
    return table


def _items(study: Study, filters: ChartFilters):
    return StudyItem.objects.filter(study=study).filter(filters.item_q()).order_by()


def labelled_per_day(*, study: Study, filters: ChartFilters) -> list[tuple[str, object, int]]:
    """(annotator username, day, items they finished that day), by completed assignments."""
    return list(
        Assignment.objects.filter(study=study, completed_at__isnull=False)
        .filter(filters.item_q("item__"))
        .order_by()
        .annotate(day=TruncDate("completed_at"))
        .values_list("annotator__username", "day")
        .annotate(n=Count("id"))
        .order_by("day", "annotator__username")
    )


def time_spent(*, study: Study, filters: ChartFilters) -> list[tuple[str, int]]:
    """(bucket label, items) of the time one annotator spent on one item (summed over its
    dimensions; items with no time recorded left out): per-item sums in a subquery, bucketed and
    counted in the outer query."""
    per_item = (
        Annotation.objects.filter(item__study=study)
        .filter(filters.item_q("item__"))
        .order_by()
        .values("item_id", "annotator_id")
        .annotate(ms=Sum("time_spent_ms"))
        .filter(ms__gt=0)
        .values("ms")
    )
    inner, params = per_item.query.sql_with_params()
    cases = " ".join(f"WHEN ms < {limit * 1000} THEN {i}" for i, (limit, _) in enumerate(TIME_BUCKETS))
    sql = f"SELECT CASE {cases} ELSE {len(TIME_BUCKETS)} END AS bucket, COUNT(*) FROM ({inner}) per_item GROUP BY 1"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = dict(cursor.fetchall())
    names = [name for _, name in TIME_BUCKETS] + [TIME_LAST_BUCKET]
    return [(name, int(found.get(i, 0))) for i, name in enumerate(names)]


class _Count(Subquery):
    """``(SELECT COUNT(*) FROM (subquery))``: a count as one column of a larger query."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) counted)"
    output_field = IntegerField()


def funnel(*, study: Study, filters: ChartFilters) -> list[tuple[str, int]]:
    """The screening funnel: ingested reports (site-wide, same filters) -> in the study ->
    screened -> included -> labelled (an annotator finished it) -> final (it has a final label).
    One query: each stage a count subquery."""
    items = _items(study, filters)
    stages = {
        "ingested": Report.objects.filter(filters.report_q()).order_by().values("pk"),
        "in_study": items.values("pk"),
        "screened": items.exclude(screening=StudyItem.Screening.PENDING).values("pk"),
        "included": items.filter(screening=StudyItem.Screening.INCLUDED).values("pk"),
        # semi-joins (hashed by PostgreSQL): the items with a completed assignment, with a final label
        "labelled": items.filter(
            Exists(Assignment.objects.filter(item=OuterRef("pk"), completed_at__isnull=False))
        ).values("pk"),
        "final": items.filter(Exists(FinalLabel.objects.filter(item=OuterRef("pk")).exclude(value=""))).values("pk"),
    }
    row = Study.objects.filter(pk=study.pk).values(**{k: _Count(qs) for k, qs in stages.items()}).get()
    return [(k, row[k]) for k in FUNNEL_STAGES]


def exclusion_reasons(*, study: Study, filters: ChartFilters) -> list[tuple[str, int]]:
    """(reason, excluded items), most frequent first."""
    return [
        (reason or "(no reason)", n)
        for reason, n in _items(study, filters)
        .filter(screening=StudyItem.Screening.EXCLUDED)
        .values_list("exclusion_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "exclusion_reason")
    ]


def _runs(study: Study, filters: ChartFilters):
    """Finished runs with a verdict of the reproducers of the study's (filtered) reports."""
    items = _items(study, filters).values("report_id")
    return ReproductionRun.objects.filter(reproducer__report_id__in=items).exclude(verdict="").order_by()


def verdicts_by_framework(*, study: Study, filters: ChartFilters) -> list[tuple[str, str, int]]:
    """(framework, verdict, runs)."""
    return list(
        _runs(study, filters)
        .values_list("reproducer__report__framework", "verdict")
        .annotate(n=Count("id"))
        .order_by("reproducer__report__framework", "verdict")
    )


def verdicts_by_requirements(*, study: Study, filters: ChartFilters) -> list[tuple[str, str, str, int]]:
    """(framework, requirements the run used, verdict, runs): the caller reads the framework's
    version out of the requirements."""
    return list(
        _runs(study, filters)
        .values_list("reproducer__report__framework", "requirements", "verdict")
        .annotate(n=Count("id"))
        .order_by("reproducer__report__framework", "requirements", "verdict")
    )


def bisections(*, study: Study, filters: ChartFilters) -> list[tuple[str, str, str, str, int]]:
    """(framework, package, mode, first bad version, bisections) of the finished bisections."""
    items = _items(study, filters).values("report_id")
    return list(
        Reproduction.objects.filter(
            reproducer__report_id__in=items, kind=Reproduction.Kind.BISECT, status=Reproduction.Status.DONE
        )
        .order_by()
        .annotate(
            mode=KeyTextTransform("mode", "bisect_result"), first_bad=KeyTextTransform("first_bad", "bisect_result")
        )
        .values_list("reproducer__report__framework", "package", "mode", "first_bad")
        .annotate(n=Count("id"))
        .order_by("reproducer__report__framework", "package", "mode", "first_bad")
    )
