"""API: a study's chart data (issue 14), the same rows the Analytics page draws and tabulates.

Owners, viewers and adjudicators (``can_view_analytics``); an annotator gets 403, a non-member
404. The agreement and progress charts are for owners and viewers only. Every endpoint takes
the filters ``framework``, ``kind`` (repeatable or comma-separated), ``from``, ``to`` (ISO dates:
the report's creation date) and ``labels`` (``final`` or ``annotators``), and ``format``
(``json`` or ``csv``).
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from config.renderers import FormatNamesTheDataFormat  # ?format= names the data format; errors stay JSON
from labelling.analytics import build_chart, chart_ids, parse_filters
from labelling.analytics.access import check_chart_access, sees_annotator_charts
from labelling.analytics.catalogue import chart_cached
from labelling.analytics.charts import FIXED, Codebook, crosstab_chart, distribution_chart
from labelling.analytics.filters import KINDS, LABEL_MODES
from labelling.analytics.selectors import REPORT_COLUMNS
from labelling.permissions import can_view_analytics, study_for

FORMATS = ("json", "csv")
_ERROR = inline_serializer(
    "ChartError", fields={"message": serializers.CharField(), "details": serializers.JSONField()}
)
SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")
FILTERS = [
    OpenApiParameter("framework", OpenApiTypes.STR, many=True, description="Only reports of these frameworks."),
    OpenApiParameter("kind", OpenApiTypes.STR, many=True, enum=list(KINDS), description="Only reports of these kinds."),
    OpenApiParameter("from", OpenApiTypes.DATE, description="Reports created at their source on or after this day."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Reports created at their source on or before this day."),
    OpenApiParameter(
        "labels", OpenApiTypes.STR, enum=list(LABEL_MODES), default="final",
        description="final: the final labels; annotators: every individual label.",
    ),
    OpenApiParameter(
        "format", OpenApiTypes.STR, enum=list(FORMATS), default="json",
        description="json: {id, title, description, filters, columns, rows}; csv: the columns as header, one row per "
        "row (text cells spreadsheet-safe).",
    ),
]  # fmt: skip
CHART_RESPONSES = {
    (200, "application/json"): inline_serializer(
        "ChartData",
        fields={
            "id": serializers.CharField(),
            "title": serializers.CharField(),
            "description": serializers.CharField(),
            "filters": serializers.JSONField(),
            "columns": serializers.ListField(child=serializers.CharField()),
            "rows": serializers.ListField(child=serializers.ListField()),
        },
    ),
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The chart's data as CSV."),
    (400, "application/json"): _ERROR,
    (403, "application/json"): _ERROR,
    (404, "application/json"): _ERROR,
}


def _format(request) -> str:
    fmt = (request.query_params.get("format") or "json").strip().lower()
    if fmt not in FORMATS:
        raise ApplicationError(
            f"Unknown format '{fmt}': use ?format=json or ?format=csv.",
            details=[{"field": "format", "message": f"Choose from: {', '.join(FORMATS)}."}],
        )
    return fmt


def _required(request, name: str, hint: str) -> str:
    value = (request.query_params.get(name) or "").strip()
    if not value:
        raise ApplicationError(f"Give '{name}': {hint}.", details=[{"field": name, "message": "Required."}])
    return value


class _ChartView(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FormatNamesTheDataFormat

    def chart_response(self, request, slug: str, build):
        """``build(study, filters, codebook)`` makes the chart, once access, the format and the filters are checked."""
        study = study_for(request.user, slug, check=can_view_analytics)
        fmt = _format(request)
        filters = parse_filters(request.query_params, study=study)
        chart = build(study, filters, Codebook(study))
        if fmt == "csv":
            response = HttpResponse(chart.csv_text(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{study.slug}-{chart.id}.csv"'
            return response
        return Response(chart.as_json())


class ChartListApi(APIView):
    """The study's charts, each with its id, title and data URLs (owners, viewers, adjudicators)."""

    @extend_schema(
        operation_id="study_charts",
        parameters=[SLUG, *FILTERS[:-1]],
        responses={
            200: inline_serializer(
                "ChartList",
                fields={
                    "study": serializers.CharField(),
                    "filters": serializers.JSONField(),
                    "charts": inline_serializer(
                        "ChartListEntry",
                        fields={
                            "id": serializers.CharField(),
                            "title": serializers.CharField(),
                            "data_url": serializers.CharField(help_text="JSON data, with the filters applied."),
                            "csv_url": serializers.CharField(),
                        },
                        many=True,
                    ),
                },
            ),
            400: _ERROR,
            403: _ERROR,
            404: _ERROR,
        },
        description="Distribution and crosstab (against framework) of every choice dimension, a Sankey, agreement, "
        "progress, the screening funnel and the reproduction charts. Any dimension's distribution and any crosstab "
        "is also at charts/distribution/ and charts/crosstab/.",
    )
    def get(self, request, slug: str):
        study = study_for(request.user, slug, check=can_view_analytics)
        filters = parse_filters(request.query_params, study=study)
        codebook = Codebook(study)
        entries = []
        for chart_id in chart_ids(codebook, about_annotators=sees_annotator_charts(request.user, study)):
            url = request.build_absolute_uri(reverse("labelling-api:chart-data", args=[study.slug, chart_id]))
            qs = filters.query_string()
            entries.append(
                {
                    "id": chart_id,
                    "title": _title(chart_id, codebook),
                    "data_url": f"{url}?{qs}" if qs else url,
                    "csv_url": f"{url}?{filters.query_string(format='csv')}",
                }
            )
        return Response({"study": study.slug, "filters": filters.as_dict(), "charts": entries})


def _title(chart_id: str, codebook: Codebook) -> str:
    if chart_id in FIXED:
        return FIXED[chart_id]
    kind, _, rest = chart_id.partition(".")
    names = [codebook.entries[c].dimension.name if c in codebook.entries else c for c in rest.split(".")]
    return {"distribution": "{}: distribution", "crosstab": "{} x {}", "sankey": "{} -> {}"}[kind].format(*names)


class ChartDataApi(_ChartView):
    """One chart's data by id, with the filters applied."""

    @extend_schema(
        operation_id="study_chart_data",
        parameters=[SLUG, OpenApiParameter("chart_id", OpenApiTypes.STR, OpenApiParameter.PATH), *FILTERS],
        responses=CHART_RESPONSES,
    )
    def get(self, request, slug: str, chart_id: str):
        def build(study, filters, codebook):
            check_chart_access(request.user, study, chart_id)
            return build_chart(study=study, chart_id=chart_id, filters=filters, codebook=codebook)

        return self.chart_response(request, slug, build)


class DistributionApi(_ChartView):
    """The distribution of one dimension: columns category, count, percent."""

    @extend_schema(
        operation_id="study_chart_distribution",
        parameters=[
            SLUG,
            OpenApiParameter("dimension", OpenApiTypes.STR, required=True, description="A choice dimension's code."),
            *FILTERS,
        ],
        responses=CHART_RESPONSES,
        description="One row per category in codebook order: its code, the labels holding it, and the percent of "
        "the labels counted (final labels by default; labels=annotators for every individual label). A multiple-"
        "choice label counts once for each category it holds, so its percents may sum to more than 100.",
    )
    def get(self, request, slug: str):
        def build(study, filters, codebook):
            code = _required(request, "dimension", "?dimension=CODE (a choice dimension)")
            return chart_cached(study=study, chart_id=f"distribution.{code}", filters=filters,
                                build=lambda: distribution_chart(study, filters, code, codebook))  # fmt: skip

        return self.chart_response(request, slug, build)


class CrosstabApi(_ChartView):
    """A cross-tabulation: one row per category of ``rows``, one column per value of ``cols``."""

    @extend_schema(
        operation_id="study_chart_crosstab",
        parameters=[
            SLUG,
            OpenApiParameter("rows", OpenApiTypes.STR, required=True, description="A choice dimension's code."),
            OpenApiParameter(
                "cols",
                OpenApiTypes.STR,
                required=True,
                description="Another dimension's code, or "
                + ", ".join(REPORT_COLUMNS)
                + " (label: the report's source "
                "labels; verdict: the verdict of its latest finished reproduction run, not_run when none).",
            ),
            *FILTERS,
        ],  # fmt: skip
        responses=CHART_RESPONSES,
        description="The header row holds the row dimension's code then the column values' codes; each row a row "
        "category's code then the counts. Against another dimension, an item counts when it has both labels (with "
        "labels=annotators: the same annotator's two labels).",
    )
    def get(self, request, slug: str):
        def build(study, filters, codebook):
            hint = "?rows=CODE&cols=CODE (or " + ", ".join(REPORT_COLUMNS) + ")"
            rows, cols = _required(request, "rows", hint), _required(request, "cols", hint)
            return chart_cached(study=study, chart_id=f"crosstab.{rows}.{cols}", filters=filters,
                                build=lambda: crosstab_chart(study, filters, rows, cols, codebook))  # fmt: skip

        return self.chart_response(request, slug, build)
