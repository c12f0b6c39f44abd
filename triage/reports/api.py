"""REST endpoints for reports and report imports (the same services as the web pages)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from config.keyset import KeysetPagination
from config.renderers import FormatNamesTheDataFormat
from triage.models import Report
from triage.permissions import CanCurateReports
from triage.reports import overview, services
from triage.reports.selectors import import_jobs_visible_to
from triage.reports.serializers import (
    ImportJobSerializer,
    ReportDetailSerializer,
    ReportFilterSet,
    ReportImportInputSerializer,
    ReportSerializer,
)


class ReportListAPI(generics.ListAPIView):
    """Reports, filtered (framework, label, kind, state, q, created_from, created_to), in id
    order, a page at a time: follow ``next`` (a cursor; page numbers are refused with a 400)."""

    serializer_class = ReportSerializer
    pagination_class = KeysetPagination
    filterset_class = ReportFilterSet
    queryset = Report.objects.none()  # the filter set's selector builds the real queryset


class ReportDetailAPI(generics.RetrieveAPIView):
    serializer_class = ReportDetailSerializer
    queryset = Report.objects.prefetch_related("source_labels")
    filterset_class = None


class ReportImportAPI(APIView):
    """Upload a file of reports; the import runs in a worker. Follow the job's ``url``."""

    permission_classes = [IsAuthenticated, CanCurateReports]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request=ReportImportInputSerializer, responses={202: ImportJobSerializer})
    def post(self, request):
        data = ReportImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.import_job_create(
            upload=data.validated_data["file"],
            fmt=data.validated_data.get("format") or None,
            created_by=request.user,
        )
        body = ImportJobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class ImportJobDetailAPI(generics.RetrieveAPIView):
    """An import job's status and progress: your own jobs (staff: every job)."""

    serializer_class = ImportJobSerializer
    filterset_class = None

    def get_queryset(self):
        return import_jobs_visible_to(self.request.user)


# -- the Reports overview (issue 14): the charts' data --------------------------------------------

_RANGE_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, OpenApiParameter.QUERY, description="First day (UTC), inclusive."),
    OpenApiParameter("to", OpenApiTypes.DATE, OpenApiParameter.QUERY, description="Last day (UTC), inclusive."),
    OpenApiParameter(
        "bucket",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        enum=list(overview.BUCKETS),
        default="auto",
        description="week, month, or auto: weeks when from and to are at most 183 days apart, months otherwise.",
    ),
]
_OVERVIEW_ERROR = inline_serializer(
    "ReportsOverviewError", fields={"message": serializers.CharField(), "details": serializers.JSONField()}
)


class ReportsOverviewChartSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    data_url = serializers.CharField(help_text="JSON rows; add format=csv for CSV.")
    csv_url = serializers.CharField()


class ReportsOverviewAPI(APIView):
    """The charts of the Reports overview, with the URLs of their data (anyone logged in)."""

    @extend_schema(
        operation_id="reports_overview",
        parameters=_RANGE_PARAMETERS,
        responses={200: ReportsOverviewChartSerializer(many=True), 400: _OVERVIEW_ERROR},
    )
    def get(self, request):
        rng = overview.overview_range_from(request.query_params)
        charts = []
        for chart in overview.CHARTS:
            url = request.build_absolute_uri(reverse("triage-api:reports-overview-chart", args=[chart.id]))
            charts.append(
                {
                    "id": chart.id,
                    "title": chart.title,
                    "description": chart.description,
                    "columns": list(chart.columns),
                    "data_url": f"{url}?{urlencode(rng.as_params())}",
                    "csv_url": f"{url}?{urlencode({**rng.as_params(), 'format': 'csv'})}",
                }
            )
        return Response(ReportsOverviewChartSerializer(charts, many=True).data)


class ReportsOverviewChartAPI(APIView):
    """One chart's data, as JSON (``{id, title, bucket, from, to, columns, rows}``) or CSV."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = FormatNamesTheDataFormat  # ?format= is csv or json; errors are JSON

    @extend_schema(
        operation_id="reports_overview_chart",
        parameters=[
            *_RANGE_PARAMETERS,
            OpenApiParameter("format", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=["json", "csv"], default="json"),
        ],
        responses={
            (200, "application/json"): inline_serializer(
                "ReportsOverviewChartData",
                fields={
                    "id": serializers.CharField(),
                    "title": serializers.CharField(),
                    "bucket": serializers.CharField(),
                    "from": serializers.DateField(allow_null=True),
                    "to": serializers.DateField(allow_null=True),
                    "columns": serializers.ListField(child=serializers.CharField()),
                    "rows": serializers.ListField(child=serializers.DictField()),
                },
            ),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per period and series."),
            (400, "application/json"): _OVERVIEW_ERROR,
            (404, "application/json"): _OVERVIEW_ERROR,
        },
    )
    def get(self, request, overview_chart: str):
        chart = overview.overview_chart(overview_chart)
        fmt = (request.query_params.get("format") or "json").strip().lower()
        if fmt not in ("json", "csv"):
            raise ApplicationError(
                f"Unknown format '{fmt}': use format=json or format=csv.",
                details=[{"field": "format", "message": "Choose json or csv."}],
            )
        rng = overview.overview_range_from(request.query_params)
        rows = chart.data(rng, request.user)
        if fmt == "csv":
            response = HttpResponse(overview.chart_csv(chart, rows), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{chart.id}-{rng.bucket}.csv"'
            return response
        return Response(
            {
                "id": chart.id,
                "title": chart.title,
                "bucket": rng.bucket,
                "from": rng.start,
                "to": rng.end,
                "columns": list(chart.columns),
                "rows": overview.chart_json_rows(chart, rows),
            }
        )
