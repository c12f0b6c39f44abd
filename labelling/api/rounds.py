"""Calibration rounds: list and create (``GET/POST /api/studies/SLUG/rounds/``), one round, close and
re-open it for re-labelling. Anyone in the study reads the rounds; only owners create, close and
re-open them. An annotator sees their own progress in a round, never the others' (nor any figure:
the round's agreement is ``GET /api/studies/SLUG/agreement/?round=ID&pass=N``, owners and viewers)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.api.serializers import ReportFilterInputSerializer
from labelling.models import CalibrationRound, RoundPass
from labelling.permissions import can_manage_rounds, can_view_study, sees_others_labels, study_for
from labelling.selectors.rounds import round_for, round_items_of, round_passes, round_progress, rounds_of
from labelling.services.rounds import round_close, round_create, round_reopen
from triage.reports.selectors import ReportFilter

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")
ROUND_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The round's id.")


class RoundProgressSerializer(serializers.Serializer):
    items = serializers.IntegerField()
    assignments_total = serializers.IntegerField(
        allow_null=True, help_text="Everyone's assignments on its items (null for a blind study's annotator)."
    )
    assignments_done = serializers.IntegerField(allow_null=True, help_text="Done in the current pass.")
    own_total = serializers.IntegerField(help_text="Your assignments on its items.")
    own_done = serializers.IntegerField()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not instance.others_shown:
            data["assignments_total"] = data["assignments_done"] = None
        return data


class RoundPassSerializer(serializers.ModelSerializer):
    started_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RoundPass
        fields = ["number", "started_at", "ended_at", "started_by", "reason", "codebook_version", "labels_kept"]
        read_only_fields = fields


class RoundSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    items = serializers.IntegerField(source="item_count", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = CalibrationRound
        fields = [
            "id",
            "name",
            "description",
            "source",
            "source_params",
            "starts_at",
            "ends_at",
            "status",
            "current_pass",
            "closed_at",
            "items",
            "created_by",
            "created_at",
            "progress",
        ]
        read_only_fields = fields

    @extend_schema_field(RoundProgressSerializer)
    def get_progress(self, obj) -> dict:
        request = self.context["request"]
        progress = round_progress(round=obj, user=request.user, others_shown=self.context["others_shown"])
        return RoundProgressSerializer(progress).data


class RoundDetailSerializer(RoundSerializer):
    passes = serializers.SerializerMethodField()
    item_ids = serializers.SerializerMethodField()

    class Meta(RoundSerializer.Meta):
        fields = [*RoundSerializer.Meta.fields, "passes", "item_ids"]
        read_only_fields = fields

    @extend_schema_field(RoundPassSerializer(many=True))
    def get_passes(self, obj) -> list[dict]:
        return RoundPassSerializer(round_passes(round=obj), many=True).data

    def get_item_ids(self, obj) -> list[int]:
        return list(round_items_of(round=obj).values_list("id", flat=True))


class RoundCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    source = serializers.ChoiceField(
        choices=CalibrationRound.Source.choices,
        help_text="sample (size of the included items matching filters, drawn with seed), filter (every "
        "included item matching filters) or list (item_ids).",
    )
    filters = ReportFilterInputSerializer(required=False, help_text="sample and filter: which reports' items.")
    size = serializers.IntegerField(required=False, min_value=1, allow_null=True, default=None)
    seed = serializers.IntegerField(
        required=False, min_value=0, max_value=2**53 - 1, allow_null=True, default=None,
        help_text="sample: omit for a fresh seed; it is recorded either way.",
    )  # fmt: skip
    item_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_empty=True, max_length=100_000
    )
    starts_at = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="Default: now.")
    ends_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        source = attrs["source"]
        if source == CalibrationRound.Source.SAMPLE and attrs.get("size") is None:
            raise serializers.ValidationError({"size": ["A sample needs its size (a whole number of at least 1)."]})
        if source == CalibrationRound.Source.LIST and not attrs.get("item_ids"):
            raise serializers.ValidationError({"item_ids": ["A list round needs item_ids: the items' ids."]})
        return attrs


class ReopenInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=10_000,
        help_text="Why (e.g. the codebook change); kept with the new pass.",
    )  # fmt: skip


def _context(request, study) -> dict:
    return {"request": request, "others_shown": sees_others_labels(request.user, study)}


class RoundListView(APIView):
    """The study's calibration rounds (members) and a new one (owners)."""

    @extend_schema(operation_id="study_rounds_list", parameters=[SLUG], responses={200: RoundSerializer(many=True)})
    def get(self, request, slug):
        study = study_for(request.user, slug, check=can_view_study)
        return Response(RoundSerializer(rounds_of(study=study), many=True, context=_context(request, study)).data)

    @extend_schema(
        operation_id="study_rounds_create",
        parameters=[SLUG],
        request=RoundCreateInputSerializer,
        responses={201: RoundDetailSerializer},
    )
    def post(self, request, slug):
        study = study_for(request.user, slug, check=can_manage_rounds)
        data = RoundCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        filters = ReportFilter(**v["filters"]) if v.get("filters") else None
        created = round_create(
            study=study,
            name=v["name"],
            description=v["description"],
            source=v["source"],
            filters=filters,
            size=v["size"],
            seed=v["seed"],
            item_ids=v.get("item_ids"),
            starts_at=v["starts_at"],
            ends_at=v["ends_at"],
            created_by=request.user,
        )
        found = round_for(study=study, round_id=created.pk)
        return Response(RoundDetailSerializer(found, context=_context(request, study)).data, status=201)


class RoundDetailView(APIView):
    """One round with its passes and item ids (members)."""

    @extend_schema(
        operation_id="study_round_detail", parameters=[SLUG, ROUND_ID], responses={200: RoundDetailSerializer}
    )
    def get(self, request, slug, pk):
        study = study_for(request.user, slug, check=can_view_study)
        found = round_for(study=study, round_id=pk)
        return Response(RoundDetailSerializer(found, context=_context(request, study)).data)


class RoundCloseView(APIView):
    """Close an open round (owners); 409 when it is closed already."""

    @extend_schema(operation_id="study_round_close", parameters=[SLUG, ROUND_ID], request=None,
                   responses={200: RoundDetailSerializer})  # fmt: skip
    def post(self, request, slug, pk):
        study = study_for(request.user, slug, check=can_manage_rounds)
        round_close(round=round_for(study=study, round_id=pk), closed_by=request.user)
        found = round_for(study=study, round_id=pk)
        return Response(RoundDetailSerializer(found, context=_context(request, study)).data)


class RoundReopenView(APIView):
    """Re-open a closed round for re-labelling (owners): the current pass's labels are kept as its
    history, a new pass begins and the round's assignments are open again; 409 when the round is open."""

    @extend_schema(
        operation_id="study_round_reopen",
        parameters=[SLUG, ROUND_ID],
        request=ReopenInputSerializer,
        responses={201: RoundDetailSerializer},
    )
    def post(self, request, slug, pk):
        study = study_for(request.user, slug, check=can_manage_rounds)
        data = ReopenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        round_reopen(
            round=round_for(study=study, round_id=pk), reopened_by=request.user, reason=data.validated_data["reason"]
        )
        found = round_for(study=study, round_id=pk)
        return Response(
            RoundDetailSerializer(found, context=_context(request, study)).data, status=status.HTTP_201_CREATED
        )
