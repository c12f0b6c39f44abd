"""REST endpoints for fuzzer crash reports and the crash groups they form.

POST /api/crashes/            one report object or a list of up to 1,000 (fuzzer accounts only)
GET  /api/crash-groups/       groups, filtered (fuzzer, framework, oracle, version) and sorted (count|recent)
GET  /api/crash-groups/<id>/  one group with its signature breakdown
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config import jsontext
from config.errors import ApplicationError
from config.keyset import KeysetPagination
from triage.crashes.intake import MAX_REPORT_BYTES, ORACLES
from triage.crashes.selectors import SORTS, CrashGroupFilter, crash_group_signatures, crash_groups_matching
from triage.crashes.services import crashes_ingest
from triage.models import CrashGroup, FuzzerAccount

LIMIT_MB = MAX_REPORT_BYTES // (1024 * 1024)


class HasFuzzerAccount(BasePermission):
    message = (
        "Only fuzzer accounts may post crash reports. Ask an administrator to run "
        "`python manage.py create_fuzzer_account NAME` and use the token it prints."
    )

    def has_permission(self, request, view):
        return FuzzerAccount.objects.filter(user_id=request.user.id).exists()


class RawJSONParser(BaseParser):
    """Keeps the body unparsed: the view checks its size before decoding it (settings-independent)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


class CrashReportSerializer(serializers.Serializer):
    """The shape of one crash report (documentation; validation is triage.crashes.intake)."""

    client_id = serializers.CharField(max_length=200)
    fuzzer = serializers.CharField(max_length=100)
    framework = serializers.CharField(max_length=32)
    framework_version = serializers.CharField(max_length=64, required=False)
    api = serializers.CharField(max_length=300, required=False)
    device = serializers.CharField(max_length=32, required=False)
    oracle = serializers.ChoiceField(choices=ORACLES)
    message = serializers.CharField(required=False)
    stack_trace = serializers.CharField(required=False)
    reproducer = serializers.CharField(required=False)
    created_at = serializers.DateTimeField(required=False)
    extra = serializers.DictField(required=False)


IngestResultSerializer = inline_serializer(
    name="CrashIngestResult",
    fields={
        "created": serializers.IntegerField(),
        "duplicates": serializers.IntegerField(),
        "groups_created": serializers.IntegerField(),
        "stored": serializers.ListField(child=serializers.DictField()),
        "refused": serializers.ListField(child=serializers.DictField()),
    },
)


READ_SIZE = 64 * 1024


def _too_large(message: str) -> ApplicationError:
    return ApplicationError(message, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)


def _spooled_body(request):
    """The request body copied to a temporary file (in memory up to 1 MB), read 64 KB at a time."""
    spooled = tempfile.SpooledTemporaryFile(max_size=1024 * 1024, dir=settings.FILE_UPLOAD_TEMP_DIR)
    while chunk := request._request.read(READ_SIZE):  # not request.body: that holds it all in memory
        spooled.write(chunk)
    spooled.seek(0)
    return spooled


def _read_reports(body) -> Iterator:
    """The posted report(s) from a spooled body, one at a time (the batch is never held parsed).

    Bad JSON is a 400 and a report over 5 MB a 413 (raised while the batch is validated, before
    anything is written); the body's total size is bounded by config.limits (413).
    """
    size = body.seek(0, 2)
    body.seek(0)
    try:
        for index, report in enumerate(jsontext.iter_values(body)):
            if size > MAX_REPORT_BYTES:  # only then can one report be over the limit
                report_size = len(json.dumps(report, ensure_ascii=False).encode("utf-8"))
                if report_size > MAX_REPORT_BYTES:
                    raise _too_large(
                        f"Report {index} is {report_size} bytes; the limit is {LIMIT_MB} MB per report. "
                        "Trim its stack trace or reproducer.",
                    )
            yield report
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApplicationError(
            f"The body is not valid JSON ({exc}). Send one crash report object or a list of them, as UTF-8 JSON."
        ) from None


class CrashIngestAPI(APIView):
    """Post one crash report or a list of up to 1,000. ``?partial=1`` stores the valid ones and lists the rest."""

    permission_classes = [IsAuthenticated, HasFuzzerAccount]
    parser_classes = [RawJSONParser]

    @extend_schema(
        request=CrashReportSerializer(many=True),
        parameters=[OpenApiParameter("partial", OpenApiTypes.BOOL, description="Store the valid reports only.")],
        responses={
            201: IngestResultSerializer,
            200: OpenApiResponse(IngestResultSerializer, description="Nothing new (all already stored)."),
            400: OpenApiResponse(description="{message, details: [{index, field, message}]}"),
            413: OpenApiResponse(description="A report over 5 MB, or the body over BUGSIFT_MAX_UPLOAD_MB."),
        },
    )
    def post(self, request):
        partial = request.query_params.get("partial", "").lower() in ("1", "true", "yes")
        with _spooled_body(request) as body:
            result = crashes_ingest(reports=_read_reports(body), account=request.user.fuzzer_account, partial=partial)
        body = {
            "message": result.summary(),
            "created": result.created,
            "duplicates": result.duplicates,
            "groups_created": result.groups_created,
            "stored": result.stored,
            "refused": result.refused,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class CrashGroupSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="report.title", read_only=True)
    report = serializers.IntegerField(source="report_id", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = CrashGroup
        fields = [
            "id",
            "report",
            "title",
            "signature",
            "signature_text",
            "crash_type",
            "framework",
            "api",
            "oracle",
            "from_message",
            "occurrence_count",
            "first_seen",
            "last_seen",
            "versions_seen",
            "devices_seen",
            "fuzzers_seen",
            "merged_into",
            "url",
        ]

    def get_url(self, group) -> str:
        return reverse("triage:crash-detail", args=[group.pk])


class CrashGroupDetailSerializer(CrashGroupSerializer):
    signatures = serializers.SerializerMethodField()
    possibly_known = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta(CrashGroupSerializer.Meta):
        fields = [*CrashGroupSerializer.Meta.fields, "smallest_reproducer", "signatures", "possibly_known"]

    def get_signatures(self, group) -> list[dict]:
        return crash_group_signatures(group=group)


FILTER_PARAMETERS = [
    OpenApiParameter("fuzzer", OpenApiTypes.STR),
    OpenApiParameter("framework", OpenApiTypes.STR),
    OpenApiParameter("oracle", OpenApiTypes.STR, enum=list(ORACLES)),
    OpenApiParameter("version", OpenApiTypes.STR),
    OpenApiParameter("sort", OpenApiTypes.STR, enum=["count", "recent"]),
]


class CrashGroupListAPI(generics.ListAPIView):
    """Crash groups (merged-away ones left out), by count (default) or recency, a page at a time:
    follow ``next`` (a cursor, valid for its sort; page numbers are refused with a 400)."""

    serializer_class = CrashGroupSerializer
    pagination_class = KeysetPagination
    filterset_class = None
    filter_backends = []

    def get_queryset(self):
        q = self.request.query_params
        return crash_groups_matching(
            CrashGroupFilter(
                fuzzer=q.get("fuzzer", ""),
                framework=q.get("framework", ""),
                oracle=q.get("oracle", ""),
                version=q.get("version", ""),
                sort=self._sort(q.get("sort", "count")),
            )
        )

    @staticmethod
    def _sort(value: str) -> str:
        if value not in SORTS:
            raise serializers.ValidationError({"sort": [f"Sort by one of: {', '.join(SORTS)}."]})
        return value

    @extend_schema(parameters=FILTER_PARAMETERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CrashGroupDetailAPI(generics.RetrieveAPIView):
    serializer_class = CrashGroupDetailSerializer
    queryset = CrashGroup.objects.select_related("report").prefetch_related("possibly_known")
    filterset_class = None
    filter_backends = []
