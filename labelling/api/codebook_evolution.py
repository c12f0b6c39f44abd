"""Codebook evolution endpoints: the history and the export (members), and the operations on a live
codebook (owner): rename, merge, split, move, retire, restore. Each operation answers with what it
touched; ``"dry_run": true`` answers with what it would touch and writes nothing (the confirm step)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling import codebook_operations
from labelling.models import Category, Dimension
from labelling.permissions import can_view_study, is_owner, sees_others_labels, study_for
from labelling.selectors.codebook import codebook_export_file, codebook_history, event_as_dict

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")
PK = OpenApiParameter("pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="The category's or dimension's id.")
_ERROR = inline_serializer(
    "CodebookOperationError", fields={"message": serializers.CharField(), "details": serializers.JSONField()}
)


class CodebookEventSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    kind = serializers.CharField()
    kind_display = serializers.CharField()
    summary = serializers.CharField()
    details = serializers.JSONField(help_text="What changed (codes, names; item ids and counts for results readers).")
    annotations_touched = serializers.IntegerField(allow_null=True, help_text="null for a blind study's annotators.")
    final_labels_touched = serializers.IntegerField(allow_null=True)
    decisions_touched = serializers.IntegerField(allow_null=True, help_text="Adjudication history rows rewritten.")
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class CodebookOperationInputSerializer(serializers.Serializer):
    code = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="rename: the new code.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text="rename: the new name.")
    target = serializers.CharField(
        required=False, max_length=64, help_text="merge: code of the category to merge into."
    )
    into = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="split: [{code, name, definition, example}, ...], two or more (an existing code names that one).",
    )
    parent = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=64, help_text="move: parent code, null: top."
    )
    dry_run = serializers.BooleanField(default=False, help_text="true: say what it would touch, write nothing.")


class CodebookOperationSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    operation = serializers.CharField()
    description = serializers.CharField(help_text="What the operation does and how many labels it touches.")
    impact = serializers.JSONField(help_text="annotations, annotators, final_labels, decisions, items (before it).")
    event = CodebookEventSerializer(
        help_text="The recorded change; for a dry run the change it would record (rolled back), counts included."
    )
    codebook_version = serializers.IntegerField()


class CodebookHistoryView(APIView):
    """The codebook's history: every change, the latest first (members; counts for results readers)."""

    @extend_schema(parameters=[SLUG], responses={200: CodebookEventSerializer(many=True), 404: _ERROR})
    def get(self, request, slug):
        study = study_for(request.user, slug, check=can_view_study)
        full = sees_others_labels(request.user, study)
        return Response([event_as_dict(e, with_counts=full) for e in codebook_history(study=study)])


class CodebookExportView(APIView):
    """The codebook as JSON in the template format: a new study can start from it (members)."""

    @extend_schema(
        parameters=[SLUG],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="The codebook (template format).")},
    )
    def get(self, request, slug):
        study = study_for(request.user, slug, check=can_view_study)
        filename, body = codebook_export_file(study=study)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class _OperationView(APIView):
    operation = ""
    model = Category

    def _subject(self, study, pk):
        if self.model is Dimension:
            return get_object_or_404(Dimension.objects.select_related("codebook"), pk=pk, codebook__study=study)
        return get_object_or_404(
            Category.objects.select_related("dimension__codebook", "parent"), pk=pk, dimension__codebook__study=study
        )

    def post(self, request, slug, pk):
        study = study_for(request.user, slug, check=is_owner)
        subject = self._subject(study, pk)
        data = CodebookOperationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        dry_run = fields.pop("dry_run", False)
        plan = codebook_operations.plan(self.operation, subject, fields)
        if dry_run:
            event = codebook_operations.rehearse(plan, by=request.user)
        else:
            event = event_as_dict(codebook_operations.apply(plan, by=request.user), with_counts=True)
        study.refresh_from_db(fields=["codebook_version"])
        return Response(
            {"dry_run": dry_run, **plan.as_dict(), "event": event, "codebook_version": study.codebook_version}
        )


def _operation_view(operation: str, model, doc: str):
    name = f"{model.__name__}{operation.capitalize()}View"

    def post(self, request, slug, pk):  # its own function, so each operation has its own schema
        return _OperationView.post(self, request, slug, pk)

    view = type(name, (_OperationView,), {"operation": operation, "model": model, "__doc__": doc})
    view.post = extend_schema(
        operation_id=f"codebook_{model.__name__.lower()}_{operation}",
        parameters=[SLUG, PK],
        request=CodebookOperationInputSerializer,
        responses={200: CodebookOperationSerializer, 400: _ERROR, 403: _ERROR, 404: _ERROR},
        description=doc,
    )(post)
    return view


CategoryRenameView = _operation_view(
    "rename", Category, "Rename a category: {code, name}; stored labels holding the old code get the new one."
)
CategoryMergeView = _operation_view(
    "merge",
    Category,
    "Merge this category into {target} (a code of the same dimension): its labels become the target, it is "
    "deleted, and the decision rule runs again on the touched items.",
)
CategorySplitView = _operation_view(
    "split",
    Category,
    "Split this category into {into: [{code, name, definition}, ...]}: it is retired and the annotations holding "
    "it are flagged for their annotators to recode.",
)
CategoryMoveView = _operation_view("move", Category, "Move this category under {parent} (a code; null: top level).")
CategoryRetireView = _operation_view(
    "retire", Category, "Retire this category: not offered for new labels; labels holding it keep it."
)
CategoryRestoreView = _operation_view("restore", Category, "Restore a retired category.")
DimensionRenameView = _operation_view(
    "rename", Dimension, "Rename a dimension: {code, name}; exports and the API use the new code."
)
