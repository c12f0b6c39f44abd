"""Item endpoints: list a study's items, add reports (by id, by filter, by reproducible sample),
list the draws, and screen an item."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.keyset import KeysetPagination
from labelling.api.serializers import (
    ItemsAddedSerializer,
    ItemsAddInputSerializer,
    ReportFilterInputSerializer,
    SampleDrawSerializer,
    SampleInputSerializer,
    ScreenedItemSerializer,
    ScreenInputSerializer,
    StudyItemSerializer,
)
from labelling.models import SampleDraw, StudyItem
from labelling.permissions import can_read_results, can_screen, is_owner, sees_others_labels, study_for
from labelling.selectors.studies import draws_for_study, items_for_study
from labelling.services.items import items_add, items_add_by_filter, items_sample
from labelling.services.screening import item_review_done, screening_vote

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")
ITEM_ID = OpenApiParameter("item_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The study item's id.")


class StudyItemFilter(django_filters.FilterSet):
    screening = django_filters.ChoiceFilter(choices=StudyItem.Screening.choices)
    framework = django_filters.CharFilter(field_name="report__framework")
    needs_review = django_filters.BooleanFilter()

    class Meta:
        model = StudyItem
        fields = ["screening", "framework", "needs_review"]


class ItemListView(generics.ListAPIView):
    """GET (owners and viewers): the study's items, filterable by ``screening``, ``framework`` and
    ``needs_review`` (the report changed at its source after the item joined the study), in id
    order, a page at a time: follow ``next`` (a cursor; page numbers are refused with a 400).
    POST (owner): add reports by id (``{"report_ids": [...]}``); reports already in the study are skipped."""

    serializer_class = StudyItemSerializer
    pagination_class = KeysetPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = StudyItemFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return StudyItem.objects.none()
        study = study_for(self.request.user, self.kwargs["slug"], check=can_read_results)
        return items_for_study(study=study)

    @extend_schema(parameters=[SLUG])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(parameters=[SLUG], request=ItemsAddInputSerializer, responses={201: ItemsAddedSerializer})
    def post(self, request, slug):
        study = study_for(request.user, slug, check=is_owner)
        data = ItemsAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        added = items_add(study=study, report_ids=data.validated_data["report_ids"])
        return Response({"added": added}, status=status.HTTP_201_CREATED)


class ItemsAddByFilterView(APIView):
    """POST (owner): add every report matching the filters that is not in the study yet; the
    draw is recorded."""

    @extend_schema(parameters=[SLUG], request=ReportFilterInputSerializer, responses={201: SampleDrawSerializer})
    def post(self, request, slug):
        study = study_for(request.user, slug, check=is_owner)
        data = ReportFilterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        draw = items_add_by_filter(study=study, filters=data.to_filter(), added_by=request.user)
        return Response(SampleDrawSerializer(draw).data, status=status.HTTP_201_CREATED)


class ItemsSampleView(APIView):
    """POST (owner): add a reproducible random sample of ``size`` matching reports not in the
    study yet (``random.Random(seed).sample`` of the candidate ids sorted); the draw is recorded."""

    @extend_schema(parameters=[SLUG], request=SampleInputSerializer, responses={201: SampleDrawSerializer})
    def post(self, request, slug):
        study = study_for(request.user, slug, check=is_owner)
        data = SampleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        draw = items_sample(
            study=study,
            filters=data.to_filter(),
            size=data.validated_data["size"],
            seed=data.validated_data["seed"],
            added_by=request.user,
        )
        return Response(SampleDrawSerializer(draw).data, status=status.HTTP_201_CREATED)


class DrawListView(generics.ListAPIView):
    """GET (owners and viewers): how items were added, newest first, with filters, size and seed."""

    serializer_class = SampleDrawSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SampleDraw.objects.none()
        study = study_for(self.request.user, self.kwargs["slug"], check=can_read_results)
        return draws_for_study(study=study)

    @extend_schema(parameters=[SLUG])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ItemScreenView(APIView):
    """POST: your screening vote on an item (``{"decision": "exclude", "reason": ...}``, the reason one
    of the study's exclusion reasons). With one screener per item (the study's ``screening_overlap``
    1) only owners screen and the vote decides. With several, owners and annotators vote; the study's
    ``screening_rule`` decides once k have voted, and the answer shows the item's decision only to
    those who may see the others' votes (an annotator of a blind study gets nulls)."""

    @extend_schema(parameters=[SLUG, ITEM_ID], request=ScreenInputSerializer, responses=ScreenedItemSerializer)
    def post(self, request, slug, item_id):
        study = study_for(request.user, slug, check=can_screen)
        item = get_object_or_404(StudyItem, study=study, pk=item_id)
        data = ScreenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = screening_vote(
            item=item,
            screener=request.user,
            decision=data.validated_data["decision"],
            reason=data.validated_data["reason"],
        )
        out = ScreenedItemSerializer(item).data
        if not sees_others_labels(request.user, study):  # blind: the decision comes from others' votes
            out = {**{name: None for name in out}, "id": item.pk}
        return Response(out)


class ItemReviewedView(APIView):
    """POST (owner): the change that flagged the item for re-review has been looked at; clear the flag."""

    @extend_schema(parameters=[SLUG, ITEM_ID], request=None, responses=StudyItemSerializer)
    def post(self, request, slug, item_id):
        study = study_for(request.user, slug, check=is_owner)
        item = item_review_done(item=get_object_or_404(StudyItem, study=study, pk=item_id))
        return Response(StudyItemSerializer(items_for_study(study=study).get(pk=item.pk)).data)
