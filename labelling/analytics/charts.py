"""Every chart of the Analytics page: its data table (what the CSV and the JSON hold, and the
accessible table form) and its Plotly figure, built from one selector's rows.

A chart id names what it shows: ``distribution.CODE``, ``crosstab.ROWS.COLS`` (COLS a dimension
code or framework, kind, label, verdict), ``sankey.FROM.TO``, ``agreement``, ``progress.labelled``,
``progress.time_spent``, ``funnel``, ``funnel.exclusions``, ``reproduction.verdicts``,
``reproduction.versions``, ``reproduction.bisection``. Codes never hold a dot, so ids are unambiguous.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from config import csvsafe
from config.errors import ApplicationError
from labelling.agreement.report import agreement_from_triples
from labelling.agreement.selectors import LEVELS, study_agreement
from labelling.analytics import selectors as q
from labelling.analytics.filters import ANNOTATORS, ChartFilters
from labelling.models import Annotation, Dimension, Study
from labelling.selectors.labelling import CodebookDimension, codebook_for_labelling
from triage.models import Report, ReproductionRun

# Charts computed from who did what (the annotators themselves): owners and viewers only.
ABOUT_ANNOTATORS = ("agreement", "progress.labelled", "progress.time_spent")
FIXED = {
    "agreement": "Agreement per dimension (95% bootstrap interval)",
    "progress.labelled": "Items labelled over time, per annotator",
    "progress.time_spent": "Time spent per item (one annotator, all dimensions)",
    "funnel": "Screening funnel",
    "funnel.exclusions": "Exclusion reasons",
    "reproduction.verdicts": "Reproduction verdicts per framework",
    "reproduction.versions": "Reproduction verdicts per framework version",
    "reproduction.bisection": "Bisection results",
}
VERDICT_NAMES = {**dict(ReproductionRun.Verdict.choices), q.NOT_RUN: "Not run"}
KIND_NAMES = dict(Report.Kind.choices)
# The PyPI package whose pinned version is a run's framework version.
FRAMEWORK_PACKAGES = {"pytorch": "torch", "tensorflow": "tensorflow", "mxnet": "mxnet", "dl4j": "deeplearning4j"}
PLOT_FONT = {"family": "system-ui, sans-serif", "size": 13}


@dataclass
class Chart:
    """One chart: ``columns`` and ``rows`` are its data (CSV, JSON, the table form), ``spec`` its
    Plotly figure as a dict (``figure`` is the same as a ``plotly.graph_objects.Figure``)."""

    id: str
    title: str
    columns: list[str]
    rows: list[list]
    spec: dict
    description: str = ""
    empty_message: str = "Nothing to show yet."
    table_columns: list[str] | None = None  # the table form when it reads better than the CSV
    table_rows: list[list] | None = None
    filters: ChartFilters = field(default_factory=ChartFilters)

    @property
    def is_empty(self) -> bool:
        return not any(isinstance(v, (int, float)) and v for row in self.rows for v in row[1:])

    @cached_property
    def figure(self):
        import plotly.graph_objects as go

        return go.Figure(self.spec)

    def csv_text(self) -> str:
        out = io.StringIO()
        writer = csvsafe.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "filters": self.filters.as_dict(),
            "columns": self.columns,
            "rows": self.rows,
        }

    @property
    def table(self) -> tuple[list[str], list[list]]:
        return (self.table_columns or self.columns, self.table_rows if self.table_rows is not None else self.rows)


def plot_layout(**more) -> dict:
    return {"font": PLOT_FONT, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "autosize": True, **more}


def percent(n: int, total: int) -> float:
    return round(100.0 * n / total, 2) if total else 0.0


class Codebook:
    """The study's codebook by dimension code, with category names and parents."""

    def __init__(self, study: Study):
        self.entries: dict[str, CodebookDimension] = {e.dimension.code: e for e in codebook_for_labelling(study=study)}

    def choice_dimensions(self) -> list[Dimension]:
        return [e.dimension for e in self.entries.values() if e.dimension.has_categories]

    def dimension(self, code: str, *, field_name: str = "dimension") -> Dimension:
        entry = self.entries.get(code)
        if entry is None or not entry.dimension.has_categories:
            valid = ", ".join(d.code for d in self.choice_dimensions()) or "(the codebook has no choice dimensions)"
            what = "a free-text dimension (no categories to count)" if entry else "not a dimension of this study"
            raise ApplicationError(
                f"'{field_name}': '{code}' is {what}. Use one of: {valid}.",
                details=[{"field": field_name, "message": f"Choose from: {valid}."}],
            )
        return entry.dimension

    def codes(self, dimension: Dimension, seen=()) -> list[str]:
        """Category codes in codebook order, then any code seen that is no longer in the codebook."""
        known = [c.code for c in self.entries[dimension.code].categories]
        return known + sorted(set(seen) - set(known))

    def names(self, dimension: Dimension) -> dict[str, str]:
        return {c.code: c.name for c in self.entries[dimension.code].categories}

    def parents(self, dimension: Dimension) -> dict[str, str]:
        cats = self.entries[dimension.code].categories
        by_id = {c.id: c.code for c in cats}
        return {c.code: by_id[c.parent_id] for c in cats if c.parent_id in by_id}


def _which(filters: ChartFilters) -> str:
    return "every annotator's labels" if filters.labels == ANNOTATORS else "final labels"


def distribution_chart(study: Study, filters: ChartFilters, code: str, codebook: Codebook, counted=None) -> Chart:
    """``counted``: the dimension's (counts, total) when already read (``selectors.distributions``)."""
    dimension = codebook.dimension(code)
    counts, total = counted or q.distribution(study=study, filters=filters, dimension=dimension)
    codes = codebook.codes(dimension, counts)
    names = codebook.names(dimension)
    rows = [[c, counts.get(c, 0), percent(counts.get(c, 0), total)] for c in codes]
    parents = codebook.parents(dimension)
    label = [names.get(c, c) for c in codes]
    if parents:
        trace = {
            "type": "sunburst",
            "ids": codes,
            "labels": label,
            "parents": [parents.get(c, "") for c in codes],
            "values": [r[1] for r in rows],
            "hovertemplate": "%{label}: %{value}<extra></extra>",
        }
    else:
        trace = {
            "type": "bar",
            "orientation": "h",
            "y": label,
            "x": [r[1] for r in rows],
            "text": [f"{r[1]} ({r[2]:g}%)" for r in rows],
            "textposition": "auto",
            "hovertemplate": "%{y}: %{x}<extra></extra>",
        }
    multi = (
        " A label holding several categories counts once for each." if dimension.kind == Dimension.Kind.MULTI else ""
    )
    return Chart(
        id=f"distribution.{code}",
        title=f"{dimension.name}: distribution",
        columns=["category", "count", "percent"],
        rows=rows,
        spec={"data": [trace], "layout": plot_layout(yaxis={"autorange": "reversed", "automargin": True})},
        description=f"{total} {_which(filters)} on {dimension.name}; percent of those labels.{multi}",
        empty_message=f"No {_which(filters)} on {dimension.name} yet.",
        table_columns=["category", "name", "count", "percent"],
        table_rows=[[c, names.get(c, c), n, p] for c, n, p in rows],
        filters=filters,
    )


def _column_names(cols, codebook: Codebook):
    if isinstance(cols, Dimension):
        return codebook.names(cols)
    return {q.KIND: KIND_NAMES, q.VERDICT: VERDICT_NAMES}.get(cols, {})


def _columns_of(code: str, codebook: Codebook):
    """``cols`` of a crosstab: a report column (framework, kind, label, verdict) or a choice dimension."""
    if code in q.REPORT_COLUMNS:
        return code
    entry = codebook.entries.get(code)
    if entry is None or not entry.dimension.has_categories:
        valid = ", ".join([*q.REPORT_COLUMNS, *(d.code for d in codebook.choice_dimensions())])
        raise ApplicationError(
            f"'cols': '{code}' is neither a choice dimension of this study nor a report column. Use one of: {valid}.",
            details=[{"field": "cols", "message": f"Choose from: {valid}."}],
        )
    return entry.dimension


def crosstab_chart(study: Study, filters: ChartFilters, rows_code: str, cols_code: str, codebook: Codebook) -> Chart:
    rows_dim = codebook.dimension(rows_code, field_name="rows")
    cols = _columns_of(cols_code, codebook)
    table = q.crosstab(study=study, filters=filters, rows=rows_dim, cols=cols)
    row_codes = codebook.codes(rows_dim, {r for r, _ in table})
    seen_cols = {c for _, c in table}
    if isinstance(cols, Dimension):
        col_codes = codebook.codes(cols, seen_cols)
    elif cols == q.VERDICT:
        col_codes = [v for v in VERDICT_NAMES if v in seen_cols] + sorted(seen_cols - set(VERDICT_NAMES))
    else:
        col_codes = sorted(seen_cols)
    matrix = [[table.get((r, c), 0) for c in col_codes] for r in row_codes]
    row_totals = [sum(r) for r in matrix]
    col_totals = [sum(col) for col in zip(*matrix, strict=True)] if matrix else []
    row_names, col_names = codebook.names(rows_dim), _column_names(cols, codebook)
    cols_title = cols.name if isinstance(cols, Dimension) else {q.LABEL: "source label"}.get(cols, cols)
    custom = [
        [[percent(n, row_totals[i]), percent(n, col_totals[j])] for j, n in enumerate(r)] for i, r in enumerate(matrix)
    ]
    trace = {
        "type": "heatmap",
        "z": matrix,
        "x": [col_names.get(c, c) for c in col_codes],
        "y": [row_names.get(r, r) for r in row_codes],
        "customdata": custom,
        "colorscale": "Blues",
        "texttemplate": "%{z}",
        "hovertemplate": "%{y} x %{x}: %{z}<br>%{customdata[0]}% of the row, %{customdata[1]}% of the column"
        "<extra></extra>",
    }
    display = [
        [row_names.get(r, r)]
        + [f"{n} ({custom[i][j][0]:g}% row, {custom[i][j][1]:g}% col)" for j, n in enumerate(matrix[i])]
        + [row_totals[i]]
        for i, r in enumerate(row_codes)
    ]
    return Chart(
        id=f"crosstab.{rows_code}.{cols_code}",
        title=f"{rows_dim.name} x {cols_title}",
        columns=[rows_code, *col_codes],
        rows=[[r, *matrix[i]] for i, r in enumerate(row_codes)],
        spec={
            "data": [trace],
            "layout": plot_layout(yaxis={"autorange": "reversed", "automargin": True}, xaxis={"automargin": True}),
        },  # fmt: skip
        description=f"Counts of {_which(filters)}; hover a cell (or read the table) for row and column percentages.",
        empty_message=f"No items have both a {rows_dim.name} and a {cols_title} yet.",
        table_columns=[rows_dim.name, *[col_names.get(c, c) for c in col_codes], "total"],
        table_rows=display,
        filters=filters,
    )


def sankey_chart(study: Study, filters: ChartFilters, source: str, target: str, codebook: Codebook) -> Chart:
    src = codebook.dimension(source, field_name="source")
    dst = codebook.dimension(target, field_name="target")
    if src.pk == dst.pk:
        raise ApplicationError("Pick two different dimensions for the Sankey.", details=[{"field": "target"}])
    table = q.crosstab(study=study, filters=filters, rows=src, cols=dst)
    src_codes = codebook.codes(src, {r for r, _ in table})
    dst_codes = codebook.codes(dst, {c for _, c in table})
    src_names, dst_names = codebook.names(src), codebook.names(dst)
    rows = [[s, t, table[(s, t)]] for s in src_codes for t in dst_codes if table.get((s, t))]
    nodes = [src_names.get(c, c) for c in src_codes] + [dst_names.get(c, c) for c in dst_codes]
    trace = {
        "type": "sankey",
        "node": {"label": nodes, "pad": 12},
        "link": {
            "source": [src_codes.index(s) for s, _, _ in rows],
            "target": [len(src_codes) + dst_codes.index(t) for _, t, _ in rows],
            "value": [n for _, _, n in rows],
        },
    }
    return Chart(
        id=f"sankey.{source}.{target}",
        title=f"{src.name} -> {dst.name}",
        columns=[f"{source}", f"{target}", "count"],
        rows=rows,
        spec={"data": [trace], "layout": plot_layout()},
        description=f"How {_which(filters)} on {src.name} flow into {dst.name}.",
        empty_message=f"No items have both a {src.name} and a {dst.name} yet.",
        table_columns=[src.name, dst.name, "count"],
        table_rows=[[src_names.get(s, s), dst_names.get(t, t), n] for s, t, n in rows],
        filters=filters,
    )


def _agreement_dimensions(study: Study, filters: ChartFilters, codebook: Codebook) -> list[dict]:
    """The study's agreement figures (labelling.agreement), over the filtered items when filters
    restrict them: then from the filtered labels' triples through ``agreement_from_triples``."""
    if not filters.restricts_items:
        return [d for d in study_agreement(study=study)["dimensions"] if not d.get("skipped")]
    dims = [d for d in codebook.choice_dimensions() if d.kind in LEVELS]
    triples = defaultdict(list)
    for dim_id, item_id, username, value in (
        Annotation.objects.filter(item__study=study, dimension__in=dims)
        .exclude(value="")
        .filter(filters.item_q("item__"))
        .values_list("dimension_id", "item_id", "annotator__username", "value")
    ):
        triples[dim_id].append((item_id, username, value))
    return [
        agreement_from_triples(
            triples[d.pk],
            level=LEVELS[d.kind],
            categories=codebook.codes(d),
            code=d.code,
            name=d.name,
            names=codebook.names(d),
            parents=codebook.parents(d),
        )
        for d in dims
    ]


def agreement_chart(study: Study, filters: ChartFilters, codebook: Codebook) -> Chart:
    rows = []
    for d in _agreement_dimensions(study, filters, codebook):
        for key, name in (("krippendorff_alpha", "krippendorff_alpha"), ("fleiss_kappa", "fleiss_kappa")):
            fig = d[key]
            ci = fig.get("ci95") or [None, None]
            rows.append([d["code"], name, fig["value"], ci[0], ci[1], fig["items"]])
    traces = []
    names = {d.code: d.name for d in codebook.choice_dimensions()}
    for stat, label in (("krippendorff_alpha", "Krippendorff's alpha"), ("fleiss_kappa", "Fleiss' kappa")):
        mine = [r for r in rows if r[1] == stat and r[2] is not None]
        traces.append({
            "type": "scatter",
            "mode": "markers",
            "name": label,
            "x": [names.get(r[0], r[0]) for r in mine],
            "y": [r[2] for r in mine],
            "error_y": {
                "type": "data",
                "symmetric": False,
                "array": [(r[4] - r[2]) if r[4] is not None else 0 for r in mine],
                "arrayminus": [(r[2] - r[3]) if r[3] is not None else 0 for r in mine],
            },
        })  # fmt: skip
    return Chart(
        id="agreement",
        title=FIXED["agreement"],
        columns=["dimension", "statistic", "value", "ci95_low", "ci95_high", "items"],
        rows=rows,
        spec={"data": traces, "layout": plot_layout(yaxis={"range": [-0.2, 1.05], "title": {"text": "agreement"}})},
        description="Computed by labelling.agreement (the Agreement page has every figure, with bands and notes).",
        empty_message="No item has labels from two annotators yet.",
        filters=filters,
    )


def labelled_chart(study: Study, filters: ChartFilters) -> Chart:
    rows, cumulative, per = [], defaultdict(int), defaultdict(lambda: ([], []))
    for username, day, n in q.labelled_per_day(study=study, filters=filters):
        cumulative[username] += n
        rows.append([day.isoformat(), username, n, cumulative[username]])
        per[username][0].append(day.isoformat())
        per[username][1].append(cumulative[username])
    traces = [
        {"type": "scatter", "mode": "lines+markers", "name": u, "x": x, "y": y} for u, (x, y) in sorted(per.items())
    ]
    return Chart(
        id="progress.labelled",
        title=FIXED["progress.labelled"],
        columns=["day", "annotator", "items", "cumulative"],
        rows=rows,
        spec={"data": traces, "layout": plot_layout(yaxis={"title": {"text": "items finished"}})},
        description="Items each annotator finished (completed assignments) per day (UTC), cumulated.",
        empty_message="No annotator has finished an item yet.",
        filters=filters,
    )


def _bars(labels, values, **more) -> dict:
    return {"type": "bar", "x": labels, "y": values, "text": values, "textposition": "auto", **more}


def time_spent_chart(study: Study, filters: ChartFilters) -> Chart:
    rows = [list(r) for r in q.time_spent(study=study, filters=filters)]
    return Chart(
        id="progress.time_spent",
        title=FIXED["progress.time_spent"],
        columns=["time_spent", "items"],
        rows=rows,
        spec={"data": [_bars([r[0] for r in rows], [r[1] for r in rows])], "layout": plot_layout()},
        description="Time one annotator spent on one item (summed over its dimensions), in bands.",
        empty_message="No time has been recorded yet.",
        filters=filters,
    )


FUNNEL_NAMES = {
    "ingested": "Ingested reports",
    "in_study": "In the study",
    "screened": "Screened",
    "included": "Included",
    "labelled": "Labelled",
    "final": "With a final label",
}


def funnel_chart(study: Study, filters: ChartFilters) -> Chart:
    rows = [list(r) for r in q.funnel(study=study, filters=filters)]
    trace = {"type": "funnel", "y": [FUNNEL_NAMES[s] for s, _ in rows], "x": [n for _, n in rows]}
    return Chart(
        id="funnel",
        title=FIXED["funnel"],
        columns=["stage", "items"],
        rows=rows,
        spec={"data": [trace], "layout": plot_layout(yaxis={"automargin": True})},
        description="Ingested reports (site-wide, same filters), then the study's items at each stage.",
        table_rows=[[FUNNEL_NAMES[s], n] for s, n in rows],
        filters=filters,
    )


def exclusions_chart(study: Study, filters: ChartFilters) -> Chart:
    rows = [list(r) for r in q.exclusion_reasons(study=study, filters=filters)]
    return Chart(
        id="funnel.exclusions",
        title=FIXED["funnel.exclusions"],
        columns=["reason", "items"],
        rows=rows,
        spec={"data": [_bars([r[0] for r in rows], [r[1] for r in rows])], "layout": plot_layout()},
        empty_message="No item has been excluded.",
        filters=filters,
    )


def _stacked(groups: list[str], rows: list[tuple[str, str, int]]) -> dict:
    """Stacked bars: one trace per verdict over ``groups``; ``rows``: (group, verdict, count)."""
    table = {(g, v): n for g, v, n in rows}
    verdicts = [v for v in VERDICT_NAMES if any(v == r[1] for r in rows)]
    data = [_bars(groups, [table.get((g, v), 0) for g in groups], name=VERDICT_NAMES[v]) for v in verdicts]
    return {"data": data, "layout": plot_layout(barmode="stack")}


def verdicts_chart(study: Study, filters: ChartFilters) -> Chart:
    rows = [list(r) for r in q.verdicts_by_framework(study=study, filters=filters)]
    groups = sorted({r[0] for r in rows})
    return Chart(
        id="reproduction.verdicts",
        title=FIXED["reproduction.verdicts"],
        columns=["framework", "verdict", "runs"],
        rows=rows,
        spec=_stacked(groups, rows),
        description="Finished reproduction runs of the study's reports, by verdict.",
        empty_message="No reproduction run of these reports has finished yet.",
        filters=filters,
    )


def framework_version(framework: str, requirements: str) -> str:
    """The version of ``framework``'s package pinned in a run's requirements, or ``(unpinned)``."""
    package = FRAMEWORK_PACKAGES.get(framework, framework).lower()
    for line in requirements.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name.strip().lower().replace("_", "-") == package:
            return version.strip()
    return "(unpinned)"


def versions_chart(study: Study, filters: ChartFilters) -> Chart:
    table = defaultdict(int)
    for framework, requirements, verdict, n in q.verdicts_by_requirements(study=study, filters=filters):
        table[(framework, framework_version(framework, requirements), verdict)] += n
    rows = [[f, v, verdict, n] for (f, v, verdict), n in sorted(table.items())]
    groups = list(dict.fromkeys(f"{f} {v}" for f, v, _, _ in rows))
    return Chart(
        id="reproduction.versions",
        title=FIXED["reproduction.versions"],
        columns=["framework", "version", "verdict", "runs"],
        rows=rows,
        spec=_stacked(groups, [(f"{f} {v}", verdict, n) for f, v, verdict, n in rows]),
        description="The version is the framework package pinned in the run's requirements.",
        empty_message="No reproduction run of these reports has finished yet.",
        filters=filters,
    )


def bisection_chart(study: Study, filters: ChartFilters) -> Chart:
    rows = [
        [f, p, mode or "(unknown)", bad or "", n] for f, p, mode, bad, n in q.bisections(study=study, filters=filters)
    ]
    by_mode = defaultdict(int)
    for _, _, mode, _, n in rows:
        by_mode[mode] += n
    return Chart(
        id="reproduction.bisection",
        title=FIXED["reproduction.bisection"],
        columns=["framework", "package", "mode", "first_bad", "bisections"],
        rows=rows,
        spec={"data": [_bars(list(by_mode), list(by_mode.values()))], "layout": plot_layout()},
        description="Finished bisections: introduced, fixed, no change or inconclusive, and the first bad version.",
        empty_message="No bisection of these reports has finished yet.",
        filters=filters,
    )


FIXED_BUILDERS = {
    "agreement": lambda s, f, c: agreement_chart(s, f, c),
    "progress.labelled": lambda s, f, c: labelled_chart(s, f),
    "progress.time_spent": lambda s, f, c: time_spent_chart(s, f),
    "funnel": lambda s, f, c: funnel_chart(s, f),
    "funnel.exclusions": lambda s, f, c: exclusions_chart(s, f),
    "reproduction.verdicts": lambda s, f, c: verdicts_chart(s, f),
    "reproduction.versions": lambda s, f, c: versions_chart(s, f),
    "reproduction.bisection": lambda s, f, c: bisection_chart(s, f),
}
