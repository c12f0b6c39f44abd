"""API: a survey's results (JSON), its exports (CSV, long CSV, numeric CSV, categories, SPSS syntax)
and importing responses from another tool's CSV with a column mapping."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from config.renderers import FormatNamesTheDataFormat  # ?format= names the data format; errors stay JSON
from surveys.response_import import parse_mapping
from surveys.response_import_services import survey_responses_import
from surveys.results_permissions import can_import_survey_responses, can_read_survey_results, survey_results_for
from surveys.results_selectors import response_rate_by_batch, responses_per_day, results_for
from surveys.views.results import EXPORT_FORMATS, export_response

_ERROR = inline_serializer(
    "SurveyResultsError",
    fields={"message": serializers.CharField(), "details": serializers.JSONField()},
)


def _version_param(request) -> int | None:
    raw = request.query_params.get("version", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ApplicationError(
            f"version must be a version number (1, 2, ...), not '{raw[:40]}'.",
            details=[{"field": "version", "message": "Give a whole number, or leave it out for every version."}],
        )
    return int(raw)


_VERSION = OpenApiParameter(
    "version",
    OpenApiTypes.INT,
    OpenApiParameter.QUERY,
    required=False,
    description="Only the responses to this version, shown with its questions. Without it: every version's "
    "responses, matched by question code and shown with the current version's questions.",
)


class SurveyResultsOutput(serializers.Serializer):
    survey = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    responses = serializers.IntegerField(help_text="Submitted responses counted.")
    questions = serializers.ListField(
        child=serializers.JSONField(),
        help_text="Per question: code, kind, text, category (generated questions), answered, and by kind: counts "
        "and percentages (single, multi, likert; all options or scale points, zeros included), agree_share / "
        "disagree_share / neutral_share / mean / median (likert, and each of a matrix's rows), mean / median / "
        "sd / min / max (number), answers (text). See docs/surveys.md.",
    )
    batches = serializers.ListField(child=serializers.JSONField(), help_text="Response rate per invitation batch.")
    per_day = serializers.ListField(child=serializers.JSONField(), help_text="Submitted responses per day.")


class SurveyResultsApi(APIView):
    """Per-question counts and percentages of a survey's submitted responses (owners, viewers, adjudicators)."""

    @extend_schema(
        operation_id="survey_results",
        parameters=[_VERSION],
        responses={200: SurveyResultsOutput, 400: _ERROR, 403: _ERROR, 404: _ERROR},
    )
    def get(self, request, survey: str):
        survey = survey_results_for(request.user, survey, check=can_read_survey_results)
        out = results_for(survey=survey, version=_version_param(request))
        out["batches"] = response_rate_by_batch(survey=survey)
        out["per_day"] = responses_per_day(survey=survey)
        return Response(out)


class SurveyExportApi(APIView):
    """Download a survey's submitted responses, streamed (owners, viewers, adjudicators)."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = FormatNamesTheDataFormat

    @extend_schema(
        operation_id="survey_export",
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=list(EXPORT_FORMATS),
                default="csv",
                description="csv: one row per response, one column per question (a matrix: one per row, "
                "QUESTION.ROW; multiple choice: one 0/1 column per option, QUESTION.N). numeric: the same with "
                "single-choice answers as the option's position (for SPSS, R, Stata). long: one row per answer "
                "(response, submitted, question, row, value, dimension, category). categories: one row per "
                "Likert scale about a codebook category (dimension, category, agree share, mean, ...), to join "
                "to the dataset export. spss: SPSS syntax reading the numeric CSV with variable and value labels. "
                "A text cell starting with =, +, -, @, a tab or a carriage return gets a leading ' so that "
                "spreadsheets do not run it. See docs/surveys.md.",
            ),
            OpenApiParameter(
                "header",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=["codes", "text"],
                default="codes",
                description="csv and numeric: text adds a second header row with the question texts.",
            ),
            _VERSION,
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV file, streamed."),
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="SPSS syntax (format=spss)."),
            (400, "application/json"): _ERROR,
            (403, "application/json"): _ERROR,
            (404, "application/json"): _ERROR,
        },
    )
    def get(self, request, survey: str):
        survey = survey_results_for(request.user, survey, check=can_read_survey_results)
        fmt = request.query_params.get("format", "csv").strip().lower()
        if fmt not in EXPORT_FORMATS:
            raise ApplicationError(
                f"Unknown export format '{fmt[:40]}'. Use ?format={', ?format='.join(EXPORT_FORMATS)}.",
                details=[{"field": "format", "message": f"Choose one of: {', '.join(EXPORT_FORMATS)}."}],
            )
        header = request.query_params.get("header", "codes").strip().lower()
        if header not in ("codes", "text"):
            raise ApplicationError(
                f"Unknown header '{header[:40]}': use header=codes (one header row) or header=text (a second "
                "row with the question texts).",
                details=[{"field": "header", "message": "Choose codes or text."}],
            )
        return export_response(survey=survey, fmt=fmt, header=header, version=_version_param(request))


class SurveyResponsesImportInput(serializers.Serializer):
    file = serializers.FileField(help_text="UTF-8 CSV with a header row; one response per line.")
    map = serializers.ListField(
        child=serializers.CharField(max_length=1000),
        required=False,
        default=list,
        help_text="COLUMN=TARGET, once per mapped column (repeat the field). TARGET is a question code, "
        "QUESTION.ROW (matrix row), QUESTION.N (option N of a multiple choice, 1/0), submitted (YYYY-MM-DD) or "
        "response (ignored). Without any, every header column must be a target, as in this app's CSV export.",
    )


class SurveyResponsesImportOutput(serializers.Serializer):
    imported = serializers.IntegerField(help_text="Responses stored (submitted, to the current version).")
    answers = serializers.IntegerField()
    version = serializers.IntegerField()


class SurveyResponsesImportApi(APIView):
    """Import responses collected with another tool (study owner only): all lines or none."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="survey_responses_import",
        request={"multipart/form-data": SurveyResponsesImportInput},
        responses={200: SurveyResponsesImportOutput, 400: _ERROR, 403: _ERROR, 404: _ERROR, 409: _ERROR},
        description="Every problem is in details as {line, field, message} (field: the CSV column; the header "
        "is line 1) and then nothing is stored. A draft survey (never opened) has no version to import into: 409.",
    )
    def post(self, request, survey: str):
        survey = survey_results_for(request.user, survey, check=can_import_survey_responses)
        data = SurveyResponsesImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            mapping = parse_mapping(data.validated_data["map"])
        except ValueError as exc:
            raise ApplicationError(str(exc), details=[{"field": "map", "message": str(exc)}]) from None
        report = survey_responses_import(survey=survey, source=data.validated_data["file"], mapping=mapping or None)
        return Response(SurveyResponsesImportOutput(report).data)
