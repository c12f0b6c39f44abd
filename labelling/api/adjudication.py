"""Adjudication endpoints (owners and adjudicators): the next disagreement, a decision, the
list of decisions. An annotator gets 403 on all of them, blind study or not."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from config.params import id_param
from labelling.api.annotation_serializers import (
    DimensionOutSerializer,
    FinalLabelSerializer,
    LabelValueField,
    ReportOutSerializer,
)
from labelling.models import Dimension, FinalLabel, FinalLabelDecision, StudyItem
from labelling.permissions import can_adjudicate, can_read_decisions, study_for
from labelling.selectors.adjudication import adjudication_next_for, decisions_of
from labelling.services.adjudication import final_label_adjudicate

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")
ITEM_ID = OpenApiParameter("item_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The study item's id.")


class GivenValueSerializer(serializers.Serializer):
    annotator = serializers.CharField(
        help_text="The annotator's username, or 'Annotator N' unless the study shows names."
    )
    value = serializers.CharField(allow_blank=True)
    display = serializers.CharField()
    note = serializers.CharField(allow_blank=True)


class AdjudicationDimensionSerializer(serializers.Serializer):
    dimension = DimensionOutSerializer(source="codebook")
    values = GivenValueSerializer(many=True)


class VerdictSerializer(serializers.Serializer):
    reproduction = serializers.IntegerField(source="reproduction_id")
    device = serializers.CharField()
    version = serializers.CharField()
    status = serializers.CharField()
    verdict = serializers.CharField()


class AdjudicationNextSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="item.id")
    report = ReportOutSerializer(source="item.report")
    remaining = serializers.IntegerField(
        help_text="Items with a disagreement left, this one included, counted up to 1000 (see remaining_capped)."
    )
    remaining_capped = serializers.BooleanField(help_text="True when more than `remaining` items are left.")
    dimensions = AdjudicationDimensionSerializer(many=True, help_text="The dimensions the annotators disagree on.")
    verdicts = VerdictSerializer(many=True, source="detail.runs")


class AdjudicationInputSerializer(serializers.Serializer):
    dimension = serializers.CharField(help_text="Dimension code.")
    value = LabelValueField(help_text="One of the annotators' values or any category (code or name).")
    rationale = serializers.CharField(help_text="Why this is the final label (required).", trim_whitespace=True)


class DecisionSerializer(serializers.ModelSerializer):
    item = serializers.IntegerField(source="item_id", read_only=True)
    report = serializers.CharField(source="item.report.source_id", read_only=True)
    dimension = serializers.CharField(source="dimension.code", read_only=True)
    decided_by = serializers.SerializerMethodField()
    chosen_from = serializers.ListField(child=serializers.CharField(allow_blank=True), read_only=True)
    replaced_method = serializers.CharField(
        read_only=True,
        help_text="Method of the final label it replaced (unanimous, majority, adjudicated, "
        "imported), empty when there was none.",
    )

    class Meta:
        model = FinalLabelDecision
        fields = [
            "id",
            "item",
            "report",
            "dimension",
            "value",
            "chosen_from",
            "rationale",
            "replaced_method",
            "replaced_value",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_decided_by(self, obj) -> str | None:
        return obj.decided_by.username if obj.decided_by_id else None


class AdjudicationNextView(APIView):
    """The next item with a disagreement on any dimension (owners and adjudicators)."""

    @extend_schema(
        parameters=[
            SLUG,
            OpenApiParameter("after", OpenApiTypes.INT, description="Skip to the first such item after this item id."),
        ],
        responses={200: AdjudicationNextSerializer, 204: OpenApiResponse(description="No disagreement left.")},
    )
    def get(self, request, slug):
        study = study_for(request.user, slug, check=can_adjudicate)
        after = request.query_params.get("after")
        after_id = id_param(after) if after else None
        if after and after_id is None:
            raise serializers.ValidationError({"after": "Give an item id (a positive whole number)."})
        found = adjudication_next_for(study=study, user=request.user, after=after_id)
        if found is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(AdjudicationNextSerializer(found).data)


class ItemAdjudicationView(APIView):
    """Decide the final label of one dimension of an item (owners and adjudicators)."""

    @extend_schema(parameters=[SLUG, ITEM_ID], request=AdjudicationInputSerializer, responses=FinalLabelSerializer)
    def post(self, request, slug, item_id):
        study = study_for(request.user, slug, check=can_adjudicate)
        item = get_object_or_404(StudyItem, study=study, pk=item_id)
        payload = AdjudicationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        code = payload.validated_data["dimension"]
        dimension = Dimension.objects.filter(codebook__study=study, code=code).select_related("codebook").first()
        if dimension is None:
            raise NotFound(f"The codebook has no dimension '{code}'.")
        final_label_adjudicate(
            study=study,
            item=item,
            dimension=dimension,
            value=payload.validated_data["value"],
            rationale=payload.validated_data["rationale"],
            adjudicator=request.user,
        )
        final = FinalLabel.objects.select_related("item__report", "dimension", "decided_by").get(
            item=item, dimension=dimension
        )
        return Response(FinalLabelSerializer(final).data, status=status.HTTP_201_CREATED)


class DecisionFilter(django_filters.FilterSet):
    item = django_filters.NumberFilter(field_name="item_id", help_text="Study item id.")
    dimension = django_filters.CharFilter(field_name="dimension__code", help_text="Dimension code.")

    class Meta:
        model = FinalLabelDecision
        fields = ["item", "dimension"]


@extend_schema(parameters=[SLUG])
class DecisionListView(generics.ListAPIView):
    """Every adjudication of the study, oldest first: earlier decisions stay listed when a later one
    replaces them (owners, adjudicators and viewers)."""

    serializer_class = DecisionSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = DecisionFilter
    queryset = FinalLabelDecision.objects.none()

    def get_queryset(self):
        study = study_for(self.request.user, self.kwargs["slug"], check=can_read_decisions)
        return decisions_of(study=study)
