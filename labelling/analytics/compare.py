"""Two studies side by side on one dimension (a replication against the original taxonomy):
categories matched by code, each study's distribution computed by the same selector."""

from __future__ import annotations

from config.errors import ApplicationError
from labelling.analytics import selectors as q
from labelling.analytics.charts import Chart, Codebook, percent, plot_layout
from labelling.analytics.filters import ChartFilters
from labelling.models import Study


def compare_chart(study: Study, other: Study, code: str, filters: ChartFilters) -> Chart:
    """``code``'s distribution in ``study`` and in ``other``. The filters' label mode applies to
    both; framework, kind and dates too (each study's items)."""
    books = [Codebook(study), Codebook(other)]
    for book, s in zip(books, (study, other), strict=True):
        entry = book.entries.get(code)
        if entry is None or not entry.dimension.has_categories:
            valid = ", ".join(d.code for d in book.choice_dimensions()) or "(none)"
            raise ApplicationError(
                f"'dimension': study '{s.slug}' has no choice dimension '{code}'. Its choice dimensions: {valid}.",
                details=[{"field": "dimension", "message": f"Choose from: {valid}."}],
            )
    dims = [b.dimension(code) for b in books]
    results = [q.distribution(study=s, filters=filters, dimension=d) for s, d in zip((study, other), dims, strict=True)]
    codes = list(dict.fromkeys(books[0].codes(dims[0], results[0][0]) + books[1].codes(dims[1], results[1][0])))
    names = {**books[1].names(dims[1]), **books[0].names(dims[0])}
    rows = []
    for c in codes:
        row = [c]
        for counts, total in results:
            row += [counts.get(c, 0), percent(counts.get(c, 0), total)]
        rows.append(row)
    traces = [
        {
            "type": "bar",
            "name": s.name,
            "x": [names.get(c, c) for c in codes],
            "y": [r[2 + 2 * i] for r in rows],
            "customdata": [r[1 + 2 * i] for r in rows],
            "hovertemplate": "%{x}: %{y}% (%{customdata})<extra>" + s.slug + "</extra>",
        }
        for i, s in enumerate((study, other))
    ]
    only = [c for c in codes if c not in books[0].names(dims[0]) or c not in books[1].names(dims[1])]
    return Chart(
        id=f"compare.{code}",
        title=f"{dims[0].name}: {study.name} and {other.name}",
        columns=[
            "category",
            f"{study.slug}_count",
            f"{study.slug}_percent",
            f"{other.slug}_count",
            f"{other.slug}_percent",
        ],
        rows=rows,
        spec={"data": traces, "layout": plot_layout(barmode="group", yaxis={"title": {"text": "percent of labels"}})},
        description="Percent of each study's labels on this dimension; categories matched by code."
        + (f" Only in one codebook: {', '.join(only)}." if only else ""),
        empty_message="Neither study has labels on this dimension yet.",
        table_columns=["category", "name", f"{study.name}: count", "%", f"{other.name}: count", "%"],
        table_rows=[[r[0], names.get(r[0], r[0]), *r[1:]] for r in rows],
        filters=filters,
    )
