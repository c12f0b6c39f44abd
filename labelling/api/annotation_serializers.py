"""Input and output serializers of the annotation endpoints (labelling/api/annotations.py)."""

from __future__ import annotations

import copy

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labelling.models import Annotation, Category, Dimension, FinalLabel
from triage.models import Report


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "A category code or name; a list of them (or codes joined by ';') for multiple choice; "
        "the text for free-text dimensions.",
    }
)
class LabelValueField(serializers.JSONField):
    pass


class ItemLabelsInputSerializer(serializers.Serializer):
    values = serializers.DictField(
        child=LabelValueField(), help_text="Dimension code -> value. Every required dimension must be given."
    )
    notes = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=True), required=False, default=dict
    )
    time_spent_ms = serializers.IntegerField(
        required=False, default=0, help_text="Milliseconds spent; clamped to [0, 3600000]."
    )


class AnnotationSerializer(serializers.ModelSerializer):
    item = serializers.IntegerField(source="item_id", read_only=True)
    dimension = serializers.CharField(source="dimension.code", read_only=True)
    annotator = serializers.CharField(source="annotator.username", read_only=True)

    class Meta:
        model = Annotation
        fields = ["id", "item", "dimension", "annotator", "value", "note", "time_spent_ms", "created_at", "updated_at"]
        read_only_fields = fields

    def get_fields(self):
        # The answer of every save: the fields a ModelSerializer builds from the model are the same
        # each time, so they are built once per process and copied, as Serializer copies declared fields.
        cls = type(self)
        if "_built_fields" not in cls.__dict__:
            cls._built_fields = super().get_fields()
        return copy.deepcopy(cls._built_fields)


class FinalLabelSerializer(serializers.ModelSerializer):
    item = serializers.IntegerField(source="item_id", read_only=True)
    report = serializers.CharField(source="item.report.source_id", read_only=True)
    dimension = serializers.CharField(source="dimension.code", read_only=True)
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = FinalLabel
        fields = ["id", "item", "report", "dimension", "value", "method", "decided_by", "rationale", "decided_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_decided_by(self, obj) -> str | None:
        return obj.decided_by.username if obj.decided_by_id else None


class AnnotatorValueSerializer(serializers.Serializer):
    annotator = serializers.CharField()
    value = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)


class DimensionDisagreementSerializer(serializers.Serializer):
    dimension = serializers.CharField(source="dimension.code")
    values = AnnotatorValueSerializer(many=True)


class DisagreementSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="item.id")
    report = serializers.CharField(source="item.report.source_id")
    title = serializers.CharField(source="item.report.title")
    dimensions = DimensionDisagreementSerializer(many=True)


class CategoryOutSerializer(serializers.ModelSerializer):
    parent = serializers.CharField(source="parent.code", default=None, read_only=True)

    class Meta:
        model = Category
        fields = ["code", "name", "definition", "example", "shortcut", "parent"]


class DimensionOutSerializer(serializers.Serializer):
    code = serializers.CharField(source="dimension.code")
    name = serializers.CharField(source="dimension.name")
    kind = serializers.ChoiceField(source="dimension.kind", choices=Dimension.Kind.choices)
    description = serializers.CharField(source="dimension.description")
    required = serializers.BooleanField(source="dimension.required")
    max_choices = serializers.IntegerField(source="dimension.max_choices", allow_null=True)
    categories = serializers.SerializerMethodField()

    @extend_schema_field(CategoryOutSerializer(many=True))
    def get_categories(self, entry):
        parents = {c.id: c.code for c in entry.categories}
        return [
            {
                "code": c.code,
                "name": c.name,
                "definition": c.definition,
                "example": c.example,
                "shortcut": c.shortcut,
                "parent": parents.get(c.parent_id),
            }
            for c in entry.categories
        ]


class ReportOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Report
        fields = ["id", "source_id", "kind", "framework", "title", "body", "url", "state", "created_at", "closed_at"]


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class NextItemSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="item.id")
    report = ReportOutSerializer(source="item.report")
    codebook_version = serializers.IntegerField(
        help_text="The version of the study's codebook; every change to the codebook raises it. "
        "Send it back as ?codebook_version= to be sent the codebook only when it changed."
    )
    codebook = DimensionOutSerializer(
        many=True,
        allow_null=True,
        help_text="The codebook's dimensions and categories; null when the request's codebook_version is "
        "the current one (keep the copy you have).",
    )
    progress = ProgressSerializer()
