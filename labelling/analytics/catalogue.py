"""Which charts a study has, and building one by its id (the API's ``charts/ID/``)."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Max

from config.errors import ApplicationError
from labelling.analytics import charts as c
from labelling.analytics.filters import ChartFilters
from labelling.models import Dimension, Study
from labelling.selectors.results import study_results_cached
from triage.models import Report

SANKEY_PREFERRED = ("root_cause", "symptom")


def default_sankey(codebook: c.Codebook) -> tuple[str, str] | None:
    """Root cause -> symptom when the codebook has both, else its first two choice dimensions
    (single choice first)."""
    codes = [d.code for d in codebook.choice_dimensions()]
    if all(code in codes for code in SANKEY_PREFERRED):
        return SANKEY_PREFERRED
    singles = [d.code for d in codebook.choice_dimensions() if d.kind != Dimension.Kind.MULTI]
    pick = singles if len(singles) >= 2 else singles + [code for code in codes if code not in singles]
    return (pick[0], pick[1]) if len(pick) >= 2 else None


def chart_ids(codebook: c.Codebook, *, about_annotators: bool = True) -> list[str]:
    """The study's charts: every choice dimension's distribution and its crosstab against the
    framework, the Sankey, then the fixed charts (those about annotators when ``about_annotators``)."""
    dims = [d.code for d in codebook.choice_dimensions()]
    ids = [f"distribution.{d}" for d in dims] + [f"crosstab.{d}.framework" for d in dims]
    sankey = default_sankey(codebook)
    if sankey:
        ids.append("sankey.{}.{}".format(*sankey))
    return ids + [i for i in c.FIXED if about_annotators or i not in c.ABOUT_ANNOTATORS]


def _unknown(chart_id: str, codebook: c.Codebook):
    valid = ", ".join(chart_ids(codebook))
    raise ApplicationError(
        f"No chart '{chart_id}'. Charts of this study: {valid} (or distribution.CODE, crosstab.ROWS.COLS, "
        "sankey.FROM.TO for any dimension codes).",
        status=404,
        details=[{"field": "id", "message": f"Choose from: {valid}."}],
    )


def chart_cached(*, study: Study, chart_id: str, filters: ChartFilters, build: Callable[[], c.Chart]) -> c.Chart:
    """``build()``, the chart ``chart_id`` with ``filters``, kept until the study's results change
    (``labelling.selectors.results``). A chart is the same for every role that may read it; the
    caller has checked access (``can_view_analytics``, ``check_chart_access``) before asking.

    The funnel's first stage counts the reports ingested site-wide, which grows with reports that
    are in no study yet: its key holds the newest report's id too (one primary-key lookup)."""
    params = filters.as_dict()
    if chart_id == "funnel":
        params["reports"] = Report.objects.aggregate(newest=Max("id"))["newest"]
    return study_results_cached(study=study, name=f"chart:{chart_id}", params=params, compute=build)


def build_chart(*, study: Study, chart_id: str, filters: ChartFilters, codebook: c.Codebook | None = None) -> c.Chart:
    """The chart ``chart_id`` of ``study`` with ``filters`` applied (ApplicationError when unknown),
    cached until the study's results change."""
    return chart_cached(
        study=study,
        chart_id=chart_id,
        filters=filters,
        build=lambda: _build_chart(study=study, chart_id=chart_id, filters=filters, codebook=codebook),
    )


def _build_chart(*, study: Study, chart_id: str, filters: ChartFilters, codebook: c.Codebook | None) -> c.Chart:
    codebook = codebook or c.Codebook(study)
    if chart_id in c.FIXED_BUILDERS:
        return c.FIXED_BUILDERS[chart_id](study, filters, codebook)
    kind, _, rest = chart_id.partition(".")
    parts = rest.split(".")
    if kind == "distribution" and len(parts) == 1:
        return c.distribution_chart(study, filters, parts[0], codebook)
    if kind == "crosstab" and len(parts) == 2:
        return c.crosstab_chart(study, filters, parts[0], parts[1], codebook)
    if kind == "sankey" and len(parts) == 2:
        return c.sankey_chart(study, filters, parts[0], parts[1], codebook)
    _unknown(chart_id, codebook)


def study_figures(study: Study) -> list[c.Chart]:
    """Every chart of ``study``, unfiltered, on final labels, for a release package.

    Returns ``Chart`` objects, each with ``.id`` (e.g. ``distribution.root_cause``), ``.title``,
    ``.figure`` (a ``plotly.graph_objects.Figure``, built on first use: ``chart.figure.write_image``
    or ``plotly.io.to_html(chart.figure)``), ``.csv_text()`` (the chart's data as CSV, the same as
    ``GET /api/studies/SLUG/charts/ID/?format=csv``), ``.columns``/``.rows`` and ``.as_json()``.
    The caller checks access (``labelling.permissions.can_view_analytics``); this includes the
    charts about the annotators (agreement, progress), as a results reader sees them.
    """
    codebook = c.Codebook(study)
    filters = ChartFilters()
    return [build_chart(study=study, chart_id=i, filters=filters, codebook=codebook) for i in chart_ids(codebook)]
