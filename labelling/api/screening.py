"""Screening votes endpoints: the votes a member may see, and the owner's decision on an item.

A screener's vote itself is ``POST /api/studies/<slug>/items/<id>/screen/`` (labelling.api.items).
"""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.api.serializers import ScreenedItemSerializer, ScreenInputSerializer
from labelling.models import ScreeningVote, StudyItem
from labelling.permissions import can_view_study, is_owner, study_for
from labelling.selectors.screening import votes_visible_to
from labelling.services.screening import screening_owner_decide

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")
ITEM_ID = OpenApiParameter("item_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The study item's id.")


class ScreeningVoteSerializer(serializers.ModelSerializer):
    screener = serializers.SlugRelatedField(slug_field="username", read_only=True)
    source_id = serializers.CharField(source="item.report.source_id", read_only=True)

    class Meta:
        model = ScreeningVote
        fields = ["id", "item", "source_id", "screener", "decision", "reason", "created_at", "updated_at"]
        read_only_fields = fields


class ScreeningVoteFilter(django_filters.FilterSet):
    item = django_filters.NumberFilter(field_name="item_id")
    decision = django_filters.ChoiceFilter(choices=ScreeningVote.Decision.choices)

    class Meta:
        model = ScreeningVote
        fields = ["item", "decision"]


class ScreeningVoteListView(generics.ListAPIView):
    """GET (members): screening votes, newest first. Owners and viewers see every vote; an annotator
    of a blind study only their own (blind screening)."""

    serializer_class = ScreeningVoteSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ScreeningVoteFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ScreeningVote.objects.none()
        study = study_for(self.request.user, self.kwargs["slug"], check=can_view_study)
        return votes_visible_to(study=study, user=self.request.user)

    @extend_schema(parameters=[SLUG])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ItemScreeningDecisionView(APIView):
    """POST (owner): decide an item (a conflict of the screeners' votes, or any item); recorded as the
    owner's decision (``screening_method`` owner), which later votes do not change."""

    @extend_schema(parameters=[SLUG, ITEM_ID], request=ScreenInputSerializer, responses=ScreenedItemSerializer)
    def post(self, request, slug, item_id):
        study = study_for(request.user, slug, check=is_owner)
        item = get_object_or_404(StudyItem, study=study, pk=item_id)
        data = ScreenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = screening_owner_decide(
            item=item,
            decision=data.validated_data["decision"],
            reason=data.validated_data["reason"],
            decided_by=request.user,
        )
        return Response(ScreenedItemSerializer(item).data)
