"""REST endpoints for reports and report imports (the same services as the web pages)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from triage.models import Report
from triage.permissions import CanCurateReports
from triage.reports import services
from triage.reports.selectors import import_jobs_visible_to
from triage.reports.serializers import (
    ImportJobSerializer,
    ReportDetailSerializer,
    ReportFilterSet,
    ReportImportInputSerializer,
    ReportSerializer,
)


class ReportListAPI(generics.ListAPIView):
    """Reports, filtered (framework, label, kind, state, q, created_from, created_to) and paginated."""

    serializer_class = ReportSerializer
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
