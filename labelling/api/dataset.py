"""API: export a study's dataset (streamed) and import labels from a long-format CSV."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from config.renderers import FormatNamesTheDataFormat
from labelling.dataset.export import FORMATS
from labelling.permissions import can_create_accounts, can_read_results, is_owner, study_for
from labelling.services.label_import import labels_import
from labelling.views.export import streaming_export_response

_ERROR = inline_serializer(
    "DatasetError",
    fields={"message": serializers.CharField(), "details": serializers.JSONField()},
)


class StudyExportApi(APIView):
    """Stream the whole study as wide CSV, long CSV or JSONL (owners and viewers; annotators work blind)."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = FormatNamesTheDataFormat  # ?format= is the export format; errors are JSON

    @extend_schema(
        operation_id="study_export",
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=list(FORMATS),
                default="csv",
                description="csv (for spreadsheets): one row per item with final labels in columns, then "
                "n_annotations_complete, status_<dimension> (final, disagreement, pending or empty: what an empty "
                "final cell means) and method_<dimension> (how the final label was decided). long (CSV): one row "
                "per item, annotator and dimension with value, note, time_spent_ms, created_at and updated_at "
                "(ISO 8601, UTC). In both CSVs a text cell starting with =, +, -, @, a tab or a carriage return "
                "gets a leading single quote so that spreadsheets do not run it. jsonl (for programs): one object "
                "per item with final labels, their status and method, every annotator's labels (an annotations "
                "list with the long format's fields) and report facts, every value as stored. "
                "See docs/dataset.md for the data dictionary.",
            )
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV file (wide or long), streamed."),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="JSON lines, streamed."),
            (400, "application/json"): _ERROR,
            (403, "application/json"): _ERROR,
            (404, "application/json"): _ERROR,
        },
    )
    def get(self, request, slug: str):
        study = study_for(request.user, slug, check=can_read_results)
        fmt = request.query_params.get("format", "csv").strip().lower()
        if fmt not in FORMATS:
            raise ApplicationError(
                f"Unknown export format '{fmt}'. Use ?format=csv, ?format=long or ?format=jsonl.",
                details=[{"field": "format", "message": f"Choose one of: {', '.join(FORMATS)}."}],
            )
        return streaming_export_response(study=study, fmt=fmt)


class LabelImportInput(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV with header source_id,annotator,dimension,value[,note]; empty annotator = final label."
    )
    dry_run = serializers.BooleanField(default=False, help_text="Validate and summarise without writing.")
    create_annotators = serializers.BooleanField(
        default=False,
        help_text="Staff only. Usernames in the file that have no account get one (no usable password) and "
        "become annotators of the study. Without it every annotator in the file must already be an "
        "annotator of the study. An existing account is never enrolled.",
    )


class LabelImportOutput(serializers.Serializer):
    dry_run = serializers.BooleanField()
    rows = serializers.IntegerField()
    items_added = serializers.IntegerField()
    annotations_created = serializers.IntegerField()
    annotations_updated = serializers.IntegerField()
    annotations_unchanged = serializers.IntegerField()
    final_labels_set = serializers.IntegerField()
    final_labels_unchanged = serializers.IntegerField()
    assignments_created = serializers.IntegerField()
    assignments_completed = serializers.IntegerField()
    accounts_created = serializers.ListField(child=serializers.CharField())
    annotators_added = serializers.ListField(child=serializers.CharField())
    unanimous_final_labels = serializers.IntegerField()
    summary = serializers.CharField()


class LabelImportApi(APIView):
    """Import annotations and final labels from a long-format CSV (study owner only).

    Labels are only imported for annotators of the study; ``create_annotators`` (staff only)
    creates the accounts that do not exist yet. Every problem is reported with its line number
    in ``details`` ([{line, field, message}]) and then nothing of the file is written.
    """

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="study_labels_import",
        request={"multipart/form-data": LabelImportInput},
        responses={200: LabelImportOutput, 400: _ERROR, 403: _ERROR, 404: _ERROR},
        description="Labels are only imported for users who are already annotators of the study; a line naming "
        "anyone else is refused (400, with its line). create_annotators=true (staff only, 403 otherwise) creates "
        "the accounts that do not exist and makes them annotators. Only the final labels of the items and "
        "dimensions the file gives labels for are recomputed; adjudicated and imported ones are never removed.",
    )
    def post(self, request, slug: str):
        study = study_for(request.user, slug, check=is_owner)
        data = LabelImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        create_annotators = data.validated_data["create_annotators"]
        if create_annotators and not can_create_accounts(request.user):
            raise ApplicationError(
                "Only staff can create accounts during an import (create_annotators). Add the annotators to "
                f"the study first (POST /api/studies/{study.slug}/members/ with role annotator) and import "
                "without create_annotators, or ask a staff user to run the import.",
                status=403,
                details=[{"field": "create_annotators", "message": "Only staff users may set this."}],
            )
        result = labels_import(
            study=study,
            source=data.validated_data["file"],
            dry_run=data.validated_data["dry_run"],
            create_annotators=create_annotators,
        )
        return Response(LabelImportOutput(result.as_dict()).data)
