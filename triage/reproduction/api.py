"""REST endpoints for reproduction: the same services and selectors as the web pages.

GET/POST /api/reports/<pk>/reproducers/          a report's reproducers; attach one (staff and study owners)
GET      /api/reproducers/<pk>/                  one reproducer
POST     /api/reproducers/<pk>/reproductions/    run it N times -> 202 with the reproduction to follow
POST     /api/reproducers/<pk>/bisections/       bisect it over versions of a package -> 202
GET      /api/reproductions/<pk>/                a reproduction with every run (without the raw captures)
POST     /api/reproduction-runs/<pk>/rejudge/    judge a stored run again (optionally a corrected expectation)
GET      /api/runners/                           runners with their alive flag

Errors are ``{message, details}``; a service's problems come with the field they concern.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from triage.models import CodeBlock, Device, Environment, Report, Reproducer, Reproduction, ReproductionRun, Runner
from triage.permissions import CanRunReproductionsOrReadOnly
from triage.reproduction import selectors
from triage.reproduction.services import (
    MAX_REPEAT,
    MAX_VERSIONS,
    bisection_start,
    reproducer_create,
    reproduction_start,
    run_rejudge,
    runner_alive,
)


def _absolute(context: dict, path: str) -> str:
    request = context.get("request")
    return request.build_absolute_uri(path) if request else path


# --------------------------------------------------------------------------- serializers


class ReproducerSerializer(serializers.ModelSerializer):
    report = serializers.IntegerField(source="report_id", read_only=True)
    code_block = serializers.IntegerField(source="code_block_id", read_only=True, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Reproducer
        fields = [
            "id",
            "url",
            "report",
            "code_block",
            "title",
            "script",
            "requirements",
            "oracle",
            "device",
            "timeout_seconds",
            "memory_mb",
            "compare_device",
            "compare_requirements",
            "rtol",
            "atol",
            "expectation",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_url(self, reproducer) -> str:
        return _absolute(self.context, reverse("triage-api:reproducer-detail", args=[reproducer.pk]))


class ReproducerInputSerializer(serializers.Serializer):
    """What a client sends to attach a reproducer: a script, or the id of one of the report's code blocks."""

    script = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    code_block = serializers.IntegerField(required=False, allow_null=True, default=None)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    requirements = serializers.CharField(required=False, allow_blank=True, default="")
    oracle = serializers.ChoiceField(choices=Reproducer.Oracle.choices, default=Reproducer.Oracle.CRASH)
    device = serializers.ChoiceField(choices=Device.choices, default=Device.CPU)
    timeout_seconds = serializers.IntegerField(default=300)
    memory_mb = serializers.IntegerField(default=4096)
    compare_device = serializers.ChoiceField(choices=Device.choices, required=False, allow_blank=True, default="")
    compare_requirements = serializers.CharField(required=False, allow_blank=True, default="")
    rtol = serializers.FloatField(default=1e-5)
    atol = serializers.FloatField(default=1e-8)
    expect = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=500,
        help_text="The failure that shows the bug: an exception type with an optional message pattern after a "
        "colon (IndexError: index out of range), an exit code (exit 3) or a signal (SIGSEGV). Empty: taken from "
        "the report (its crash group's signature, else the last traceback of its body or comments); a crash "
        "reproducer needs one.",
    )


class RejudgeInputSerializer(serializers.Serializer):
    expect = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=500,
        help_text="A corrected expectation (same syntax as when attaching); empty: the reproducer's own.",
    )
    signature = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=64, help_text="A crash group's signature to match."
    )


class RunnerSerializer(serializers.ModelSerializer):
    alive = serializers.SerializerMethodField()

    class Meta:
        model = Runner
        fields = [
            "id",
            "name",
            "hostname",
            "device",
            "queues",
            "cuda_version",
            "gpus",
            "frameworks",
            "python",
            "sandbox",
            "started_at",
            "last_heartbeat",
            "stopped_at",
            "alive",
        ]
        read_only_fields = fields

    def get_alive(self, runner) -> bool:
        return runner_alive(runner)


class EnvironmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Environment
        fields = [
            "key",
            "requirements",
            "python",
            "last_built_at",
            "last_build_ok",
            "last_build_seconds",
            "last_build_log",
        ]
        read_only_fields = fields


class ReproductionRunSerializer(serializers.ModelSerializer):
    """Every field of a run except the raw ``captures`` blob; ``outputs`` summarises the captures."""

    runner = serializers.CharField(source="runner.name", default=None, read_only=True)
    environment = EnvironmentSerializer(read_only=True, allow_null=True)
    stdout_dropped = serializers.SerializerMethodField()
    stderr_dropped = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = ReproductionRun
        fields = [
            "id",
            "page_url",
            "index",
            "side",
            "version",
            "device",
            "requirements",
            "queue",
            "status",
            "verdict",
            "verdict_detail",
            "verdict_reason",
            "verdict_hint",
            "expectation",
            "expectation_matched",
            "verdict_history",
            "attempt",
            "runner",
            "environment",
            "queued_at",
            "started_at",
            "finished_at",
            "exit_code",
            "signal",
            "limit_hit",
            "duration_ms",
            "peak_memory_kb",
            "stdout_tail",
            "stderr_tail",
            "stdout_bytes",
            "stderr_bytes",
            "stdout_dropped",
            "stderr_dropped",
            "outputs",
            "comparison",
            "signature",
        ]
        read_only_fields = fields

    def get_stdout_dropped(self, run) -> int:
        return selectors.dropped_bytes(run.stdout_bytes, run.stdout_tail)

    def get_stderr_dropped(self, run) -> int:
        return selectors.dropped_bytes(run.stderr_bytes, run.stderr_tail)

    def get_page_url(self, run) -> str:
        return _absolute(self.context, reverse("triage:run-detail", args=[run.pk]))


class ReproductionSerializer(serializers.ModelSerializer):
    reproducer = serializers.IntegerField(source="reproducer_id", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", default=None, read_only=True)
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = Reproduction
        fields = [
            "id",
            "url",
            "page_url",
            "reproducer",
            "kind",
            "status",
            "repeat",
            "finished_count",
            "reproduced_count",
            "summary",
            "package",
            "versions",
            "bisect_result",
            "requested_by",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, reproduction) -> str:
        return _absolute(self.context, reverse("triage-api:reproduction-detail", args=[reproduction.pk]))

    def get_page_url(self, reproduction) -> str:
        return _absolute(self.context, reverse("triage:reproduction-detail", args=[reproduction.pk]))


class ReproductionDetailSerializer(ReproductionSerializer):
    runs = serializers.SerializerMethodField()

    class Meta(ReproductionSerializer.Meta):
        fields = [*ReproductionSerializer.Meta.fields, "runs"]
        read_only_fields = fields

    @extend_schema_field(ReproductionRunSerializer(many=True))
    def get_runs(self, reproduction) -> list[dict]:
        runs = selectors.reproduction_runs(reproduction)
        return ReproductionRunSerializer(runs, many=True, context=self.context).data


class RepeatInputSerializer(serializers.Serializer):
    repeat = serializers.IntegerField(
        default=1,
        min_value=1,
        max_value=MAX_REPEAT,
        help_text="How many times to run (a differential one runs twice each).",
    )


class BisectionInputSerializer(serializers.Serializer):
    package = serializers.CharField(max_length=200, help_text="The package whose versions are searched, e.g. torch.")
    versions = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=MAX_VERSIONS,
        help_text="The versions to search, oldest first, e.g. ['2.11.0', '2.12.0', '2.13.0'].",
    )


# --------------------------------------------------------------------------- views

ERRORS = OpenApiResponse(description="{message, details: {field: message}}")


class ReportReproducerListAPI(generics.ListCreateAPIView):
    """A report's reproducers, newest first. POST attaches one (staff and study owners)."""

    serializer_class = ReproducerSerializer
    permission_classes = [IsAuthenticated, CanRunReproductionsOrReadOnly]
    filterset_class = None
    filter_backends = []

    def _report(self) -> Report:
        return get_object_or_404(Report, pk=self.kwargs["pk"])

    def get_queryset(self):
        return Reproducer.objects.filter(report=self._report()).select_related("created_by")

    @extend_schema(request=ReproducerInputSerializer, responses={201: ReproducerSerializer, 400: ERRORS})
    def post(self, request, *args, **kwargs):
        report = self._report()
        data = ReproducerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        block_id = values.pop("code_block")
        code_block = None
        if block_id is not None:
            code_block = CodeBlock.objects.filter(pk=block_id).first()
            if code_block is None:
                message = f"There is no code block {block_id}; list the report's code blocks on its page."
                raise ApplicationError(message, details={"code_block": message})
        reproducer = reproducer_create(report=report, code_block=code_block, created_by=request.user, **values)
        body = ReproducerSerializer(reproducer, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class ReproducerDetailAPI(generics.RetrieveAPIView):
    serializer_class = ReproducerSerializer
    queryset = Reproducer.objects.select_related("created_by")
    filterset_class = None
    filter_backends = []


class _StartAPI(APIView):
    permission_classes = [IsAuthenticated, CanRunReproductionsOrReadOnly]

    def _reproducer(self, pk: int) -> Reproducer:
        return get_object_or_404(Reproducer, pk=pk)

    def _accepted(self, request, reproduction: Reproduction) -> Response:
        body = ReproductionSerializer(reproduction, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class ReproductionStartAPI(_StartAPI):
    """Queue ``repeat`` runs of the reproducer; follow the returned ``url``."""

    @extend_schema(request=RepeatInputSerializer, responses={202: ReproductionSerializer, 400: ERRORS})
    def post(self, request, pk: int):
        reproducer = self._reproducer(pk)
        data = RepeatInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reproduction = reproduction_start(
            reproducer=reproducer, repeat=data.validated_data["repeat"], requested_by=request.user
        )
        return self._accepted(request, reproduction)


class BisectionStartAPI(_StartAPI):
    """Bisect the reproducer over ordered versions of one package, one run per step."""

    @extend_schema(request=BisectionInputSerializer, responses={202: ReproductionSerializer, 400: ERRORS})
    def post(self, request, pk: int):
        reproducer = self._reproducer(pk)
        data = BisectionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reproduction = bisection_start(
            reproducer=reproducer,
            package=data.validated_data["package"],
            versions=data.validated_data["versions"],
            requested_by=request.user,
        )
        return self._accepted(request, reproduction)


class ReproductionDetailAPI(generics.RetrieveAPIView):
    """A reproduction with every run: status, verdict, limits, log tails, captured outputs, comparison."""

    serializer_class = ReproductionDetailSerializer
    queryset = Reproduction.objects.select_related("requested_by")
    filterset_class = None
    filter_backends = []


class RunRejudgeAPI(APIView):
    """Judge a stored run again from its raw result (nothing runs); the new verdict joins its history."""

    permission_classes = [IsAuthenticated, CanRunReproductionsOrReadOnly]

    @extend_schema(request=RejudgeInputSerializer, responses={200: ReproductionRunSerializer, 400: ERRORS})
    def post(self, request, pk: int):
        run = get_object_or_404(ReproductionRun.objects.only("pk"), pk=pk)
        data = RejudgeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = run_rejudge(
            run=run, expect=data.validated_data["expect"], signature=data.validated_data["signature"], by=request.user
        )
        run = selectors.run_detail(pk=run.pk)
        return Response(ReproductionRunSerializer(run, context={"request": request}).data)


class RunnerListAPI(generics.ListAPIView):
    """Runners (Celery workers on repro.cpu / repro.gpu) with whether they are alive now."""

    serializer_class = RunnerSerializer
    queryset = Runner.objects.order_by("name")
    filterset_class = None
    filter_backends = []
