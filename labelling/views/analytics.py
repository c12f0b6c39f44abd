"""The study's Analytics page (issue 14): every chart drawn by plotly.min.js from a server-built
figure, each with its table (the accessible form, and what shows without JavaScript), a CSV link
and the filters applied to all; one chart on a page of its own; two studies side by side."""

from __future__ import annotations

from dataclasses import dataclass

from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from config.errors import ApplicationError
from labelling.analytics import build_chart, parse_filters
from labelling.analytics import selectors as q
from labelling.analytics.access import check_chart_access, sees_annotator_charts
from labelling.analytics.catalogue import chart_cached, default_sankey
from labelling.analytics.charts import FIXED, Chart, Codebook, crosstab_chart, distribution_chart, sankey_chart
from labelling.analytics.compare import compare_chart
from labelling.analytics.filters import KINDS, LABEL_MODES, ChartFilters, study_frameworks
from labelling.analytics.selectors import REPORT_COLUMNS
from labelling.models import Study
from labelling.permissions import can_view_analytics, role_in, roles_in, studies_visible_to, study_for
from labelling.selectors.results import study_results_pin
from labelling.selectors.rounds import rounds_of

# plotly.js draws the sunburst, Sankey and heatmap with a few style="" attributes (its <style>
# element is avoided by templates/_plotly_head.html): these pages allow inline style *attributes*
# only (style-src-attr), never <style> elements or scripts; no WebGL trace, so no 'unsafe-eval'.
plotly_csp = csp_update({"style-src-attr": ["'unsafe-inline'"]})

# Charts whose figures take longest on a large study (the bootstrap intervals, a scan of every
# label's time): the page loads them after it is shown; without JavaScript they are a link away.
DEFERRED = ("agreement", "progress.time_spent")


@dataclass
class Slot:
    """A chart on the page: drawn now (``chart``), or loaded later from ``page_url``, or an ``error``."""

    id: str
    title: str
    chart: Chart | None = None
    error: str = ""
    page_url: str = ""
    csv_url: str = ""
    json_url: str = ""

    @property
    def dom_id(self) -> str:
        return "chart-" + self.id.replace(".", "--")

    @property
    def figure_id(self) -> str:
        return self.dom_id + "-figure"


def _slot(study: Study, filters: ChartFilters, chart_id: str, title: str, build) -> Slot:
    api = reverse("labelling-api:chart-data", args=[study.slug, chart_id])
    slot = Slot(
        id=chart_id,
        title=title,
        page_url=reverse("labelling:analytics-chart", args=[study.slug, chart_id]) + _qs(filters),
        csv_url=f"{api}?{filters.query_string(format='csv')}",
        json_url=api + _qs(filters),
    )
    if build is None:
        return slot
    try:
        slot.chart = build()
    except ApplicationError as exc:
        slot.error = exc.message
    return slot


def _qs(filters: ChartFilters, **more) -> str:
    qs = filters.query_string(**more)
    return f"?{qs}" if qs else ""


def _pick(request, name: str, default: str | None) -> str | None:
    return (request.GET.get(name) or "").strip() or default


def _other_studies(user, study: Study) -> list[Study]:
    """The other studies whose analytics ``user`` may see (roles read in one query)."""
    studies = list(studies_visible_to(user).exclude(pk=study.pk).order_by("name"))
    roles_in(user, studies)  # fills the cache can_view_analytics reads
    return [s for s in studies if can_view_analytics(user, s)]


@plotly_csp
@login_required
@require_safe
def analytics(request, slug):
    study = study_for(request.user, slug, check=can_view_analytics)
    study_results_pin(study)  # a read-only page: one read of the results token
    codebook = Codebook(study)
    dims = codebook.choice_dimensions()
    error = ""
    try:
        filters = parse_filters(request.GET, study=study)
    except ApplicationError as exc:
        error, filters = exc.message, ChartFilters()
    about_annotators = sees_annotator_charts(request.user, study)

    def slot(chart_id, title, build, deferred=False):
        return _slot(study, filters, chart_id, title, None if deferred else build)

    counted = {}

    def distribution(d):  # a cache miss reads every dimension's counts in one query, once
        if not counted:
            counted.update(q.distributions(study=study, filters=filters, dimensions=dims))
        return distribution_chart(study, filters, d.code, codebook, counted[d.pk])

    def cached(chart_id, build):
        return lambda: chart_cached(study=study, chart_id=chart_id, filters=filters, build=build)

    distributions = [
        slot(f"distribution.{d.code}", d.name, cached(f"distribution.{d.code}", lambda d=d: distribution(d)))
        for d in dims
    ]
    rows = _pick(request, "rows", dims[0].code if dims else None)
    cols = _pick(request, "cols", "framework")
    sankey = default_sankey(codebook) or (None, None)
    source, target = _pick(request, "source", sankey[0]), _pick(request, "target", sankey[1])
    crosstab = rows and slot(f"crosstab.{rows}.{cols}", "Cross-tabulation", cached(
        f"crosstab.{rows}.{cols}", lambda: crosstab_chart(study, filters, rows, cols, codebook)))  # fmt: skip
    flow = source and target and slot(f"sankey.{source}.{target}", "Sankey", cached(
        f"sankey.{source}.{target}", lambda: sankey_chart(study, filters, source, target, codebook)))  # fmt: skip

    def fixed(*ids):
        return [
            slot(
                i,
                FIXED[i],
                lambda i=i: build_chart(study=study, chart_id=i, filters=filters, codebook=codebook),
                deferred=i in DEFERRED,
            )  # fmt: skip
            for i in ids
            if about_annotators or i not in ("agreement", "progress.labelled", "progress.time_spent")
        ]

    sections = [
        ("distributions", "Distributions", "Each dimension's categories: counts and percentages.", distributions),
        ("crosstab", "Cross-tabulation", "Any dimension against another, or against the report's framework, kind, "
         "source label or reproduction verdict.", [crosstab] if crosstab else []),
        ("sankey", "Flow between two dimensions", "", [flow] if flow else []),
        ("agreement", "Agreement", "", fixed("agreement")),
        ("progress", "Progress", "", fixed("progress.labelled", "progress.time_spent", "funnel", "funnel.exclusions")),
        ("reproduction", "Reproduction", "", fixed("reproduction.verdicts", "reproduction.versions",
                                                   "reproduction.bisection")),
    ]  # fmt: skip
    sections = [s for s in sections if s[3]]
    bad = error or next((s.error for _, _, _, slots in sections for s in slots if s.error), "")
    context = {
        "study": study,
        "role": role_in(request.user, study),
        "error": error,
        "filters": filters,
        "frameworks": study_frameworks(study=study),
        "rounds": list(rounds_of(study=study)),
        "kinds": KINDS,
        "label_modes": LABEL_MODES,
        "dimensions": dims,
        "report_columns": REPORT_COLUMNS,
        "picked": {"rows": rows, "cols": cols, "source": source, "target": target},
        "sections": sections,
        "other_studies": _other_studies(request.user, study),
        "any_dimension": bool(dims),
    }
    return render(request, "labelling/analytics.html", context, status=400 if bad else 200)


@plotly_csp
@login_required
@require_safe
def analytics_chart(request, slug, chart_id):
    """One chart on a page of its own (what the page loads for its deferred charts)."""
    study = study_for(request.user, slug, check=can_view_analytics)
    study_results_pin(study)  # a read-only page: one read of the results token
    try:
        filters = parse_filters(request.GET, study=study)
        check_chart_access(request.user, study, chart_id)
        chart = build_chart(study=study, chart_id=chart_id, filters=filters)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        if exc.status == 403:
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied(exc.message) from None
        return render(request, "labelling/analytics_chart.html", {"study": study, "error": exc.message}, status=400)
    context = {
        "study": study,
        "role": role_in(request.user, study),
        "slot": _slot(study, filters, chart_id, chart.title, lambda: chart),
        "filters": filters,
        "back": reverse("labelling:analytics", args=[study.slug]) + _qs(filters),
    }
    return render(request, "labelling/analytics_chart.html", context)


@plotly_csp
@login_required
@require_safe
def analytics_compare(request, slug):
    """Two studies side by side on one dimension, categories matched by code (?other=SLUG&dimension=CODE)."""
    study = study_for(request.user, slug, check=can_view_analytics)
    other_slug, code = _pick(request, "other", ""), _pick(request, "dimension", "")
    context = {"study": study, "role": role_in(request.user, study), "other": other_slug, "dimension": code}
    status = 200
    if other_slug or code:
        try:
            if not other_slug or not code:
                missing = "other" if not other_slug else "dimension"
                raise ApplicationError(f"Give '{missing}': ?other=SLUG&dimension=CODE.")
            other = study_for(request.user, other_slug, check=can_view_analytics)
            filters = parse_filters(request.GET, study=study)
            chart = compare_chart(study, other, code, filters)
        except ApplicationError as exc:
            context["error"], status = exc.message, 400
        else:
            if request.GET.get("format") == "csv":
                response = HttpResponse(chart.csv_text(), content_type="text/csv; charset=utf-8")
                response["Content-Disposition"] = f'attachment; filename="{study.slug}-vs-{other.slug}-{code}.csv"'
                return response
            query = request.GET.copy()
            query["format"] = "csv"
            context["slot"] = Slot(id=chart.id, title=chart.title, chart=chart, csv_url="?" + query.urlencode())
    context["other_studies"] = _other_studies(request.user, study)
    context["dimensions"] = Codebook(study).choice_dimensions()
    return render(request, "labelling/analytics_compare.html", context, status=status)
