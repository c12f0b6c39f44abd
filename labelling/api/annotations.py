"""Annotation endpoints: the next item, an item's labels, annotation lists, final labels, disagreements.

What an annotator may see is decided by ``annotations_visible_to`` (blind labelling); an
annotation that is not visible to the caller answers 404, like one that does not exist.
"""

from __future__ import annotations

import django_filters
from django.http import Http404
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from config.params import id_param
from labelling.api.annotation_serializers import (
    AnnotationSerializer,
    DisagreementSerializer,
    FinalLabelSerializer,
    ItemLabelsInputSerializer,
    NextItemSerializer,
)
from labelling.models import Annotation, FinalLabel, StudyItem
from labelling.permissions import (
    can_adjudicate,
    can_annotate,
    can_read_final_labels,
    can_read_results,
    can_view_study,
    own_assignment_for,
    study_for,
)
from labelling.selectors.adjudication import adjudicated_outcomes_for
from labelling.selectors.labelling import (
    annotations_visible_to,
    assignment_for,
    codebook_for_labelling,
    disagreements_for,
    final_labels_of,
    next_item_for,
    progress_for,
)
from labelling.services.annotations import item_labels_save

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")
ITEM_ID = OpenApiParameter("item_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The study item's id.")


def _item_visible(*, user, study, item_id: int) -> StudyItem:
    """The study item, if the caller may look at its labels: results readers and adjudicators (who
    read every label, ``annotations_visible_to``) any item of the study, annotators only the items
    assigned to them. Anything else is 404."""
    if can_read_results(user, study) or can_adjudicate(user, study):
        return get_object_or_404(StudyItem.objects.select_related("report"), study=study, pk=item_id)
    assignment = assignment_for(study=study, annotator=user, item_id=item_id)
    if assignment is None:
        raise Http404("No such item among your assignments.")
    return assignment.item


CODEBOOK_VERSION = OpenApiParameter(
    "codebook_version",
    OpenApiTypes.INT,
    OpenApiParameter.QUERY,
    required=False,
    description="The codebook_version of the codebook the client holds (from an earlier answer): when it is "
    "still the current one, the answer's codebook is null instead of the whole codebook again.",
)


def _client_codebook_version(request) -> int | None:
    raw = request.query_params.get("codebook_version")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise ValidationError(
            {"codebook_version": ["Give the codebook_version of an earlier answer (a whole number), or leave it out."]}
        )
    return int(raw)


class NextItemView(APIView):
    """The caller's next item to label, with its report, the codebook and the caller's progress.

    The codebook is sent once: a client that passes the ``codebook_version`` of its copy gets
    ``"codebook": null`` while that version is current, and the whole codebook after a change.
    """

    @extend_schema(
        parameters=[SLUG, CODEBOOK_VERSION],
        responses={200: NextItemSerializer, 204: OpenApiResponse(description="Nothing left to label.")},
    )
    def get(self, request, slug):
        study = study_for(request.user, slug, check=can_annotate)
        held = _client_codebook_version(request)
        item = next_item_for(study=study, annotator=request.user)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        done, total = progress_for(study=study, annotator=request.user)
        data = {
            "item": item,
            "codebook_version": study.codebook_version,
            "codebook": None if held == study.codebook_version else codebook_for_labelling(study=study),
            "progress": {"done": done, "total": total},
        }
        return Response(NextItemSerializer(data).data)


class ItemAnnotationsView(APIView):
    """GET: the item's annotations the caller may see. PUT: save the caller's own labels of the item."""

    @extend_schema(parameters=[SLUG, ITEM_ID], responses=AnnotationSerializer(many=True))
    def get(self, request, slug, item_id):
        study = study_for(request.user, slug, check=can_view_study)
        item = _item_visible(user=request.user, study=study, item_id=item_id)
        annotations = (
            annotations_visible_to(user=request.user, study=study)
            .filter(item=item)
            .select_related("dimension", "annotator")
            .order_by("annotator__username", "dimension__order", "dimension_id")
        )
        return Response(AnnotationSerializer(annotations, many=True).data)

    @extend_schema(
        parameters=[SLUG, ITEM_ID], request=ItemLabelsInputSerializer, responses=AnnotationSerializer(many=True)
    )
    def put(self, request, slug, item_id):
        # As on the labelling page: only the caller's own assignments exist here.
        assignment = own_assignment_for(request.user, slug, item_id, check=can_annotate)
        if assignment is None:
            raise NotFound("This item is not in your labelling queue: label the items of your own queue.")
        item = assignment.item
        payload = ItemLabelsInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        saved = item_labels_save(
            item=item,
            annotator=request.user,
            values=payload.validated_data["values"],
            notes=payload.validated_data["notes"],
            time_spent_ms=payload.validated_data["time_spent_ms"],
        )
        return Response(AnnotationSerializer(saved, many=True).data)


class AnnotationFilter(django_filters.FilterSet):
    item = django_filters.NumberFilter(field_name="item_id", help_text="Study item id.")
    dimension = django_filters.CharFilter(field_name="dimension__code", help_text="Dimension code.")
    annotator = django_filters.CharFilter(method="filter_annotator", help_text="Annotator username or user id.")

    class Meta:
        model = Annotation
        fields = ["item", "dimension", "annotator"]

    def filter_annotator(self, queryset, name, value):
        if id_param(value) is not None:
            return queryset.filter(annotator_id=id_param(value))
        return queryset.filter(annotator__username=value)


@extend_schema(parameters=[SLUG])
class AnnotationListView(generics.ListAPIView):
    """The study's annotations the caller may see (an annotator: their own), filterable."""

    serializer_class = AnnotationSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = AnnotationFilter
    queryset = Annotation.objects.none()  # for the schema; get_queryset is what runs

    def get_queryset(self):
        study = study_for(self.request.user, self.kwargs["slug"], check=can_view_study)
        return (
            annotations_visible_to(user=self.request.user, study=study)
            .select_related("dimension", "annotator")
            .order_by("item_id", "annotator__username", "dimension__order", "dimension_id")
        )


class AnnotationDetailView(generics.RetrieveAPIView):
    """One annotation; 404 unless the caller may see it (blind labelling)."""

    serializer_class = AnnotationSerializer
    queryset = Annotation.objects.none()

    def get_object(self):
        annotation = get_object_or_404(
            Annotation.objects.select_related("item__study", "dimension", "annotator"), pk=self.kwargs["pk"]
        )
        study = annotation.item.study
        if not annotations_visible_to(user=self.request.user, study=study).filter(pk=annotation.pk).exists():
            raise Http404("No such annotation.")
        return annotation


class FinalLabelFilter(django_filters.FilterSet):
    item = django_filters.NumberFilter(field_name="item_id", help_text="Study item id.")
    dimension = django_filters.CharFilter(field_name="dimension__code", help_text="Dimension code.")
    method = django_filters.ChoiceFilter(choices=FinalLabel.Method.choices)

    class Meta:
        model = FinalLabel
        fields = ["item", "dimension", "method"]


@extend_schema(parameters=[SLUG])
class FinalLabelListView(generics.ListAPIView):
    """The study's final labels (owners and viewers); for an annotator, once the study is not blind
    and shows them (``adjudication_outcomes_shown``), the adjudicated labels of the items they finished."""

    serializer_class = FinalLabelSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = FinalLabelFilter
    queryset = FinalLabel.objects.none()

    def get_queryset(self):
        study = study_for(self.request.user, self.kwargs["slug"], check=can_read_final_labels)
        if can_read_results(self.request.user, study):
            return final_labels_of(study=study)
        return adjudicated_outcomes_for(study=study, annotator=self.request.user)


class DisagreementPagination(BasePagination):
    """Keyset pages of disagreements: ``?after=<item id>`` (the ``next`` link carries it).

    The view gives the selector's answer for ``after`` with one item more than a page; what
    lies past the page only tells whether there is a next one. There is no total count: it would
    mean finding every disagreement of the study on every request.
    """

    page_size = 50

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page = list(queryset[: self.page_size])
        self.next_after = page[-1].item.id if len(queryset) > self.page_size else None
        return page

    def get_next_link(self):
        if self.next_after is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), "after", self.next_after)

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri", "description": "The next page, if any."},
                "results": schema,
            },
        }


def _after_param(raw: str | None) -> int:
    if raw in (None, ""):
        return 0
    if not raw.isdigit():
        raise ValidationError({"after": ["after is the item id the previous page ended with (a whole number)."]})
    return int(raw)


@extend_schema(
    parameters=[
        SLUG,
        OpenApiParameter("dimension", OpenApiTypes.STR, description="Only disagreements on this dimension code."),
        OpenApiParameter(
            "after", OpenApiTypes.INT, description="Only items after this item id (the `next` link sets it)."
        ),
    ]
)
class DisagreementListView(generics.ListAPIView):
    """Finished items whose annotators disagree on at least one dimension, in item order (owners and viewers).

    Keyset pages of 50: ``{"next", "results"}``, no total count."""

    serializer_class = DisagreementSerializer
    filter_backends: list = []
    pagination_class = DisagreementPagination

    def get_queryset(self):
        study = study_for(self.request.user, self.kwargs["slug"], check=can_read_results)
        return disagreements_for(
            study=study,
            dimension_code=self.request.query_params.get("dimension") or None,
            after=_after_param(self.request.query_params.get("after")),
            limit=DisagreementPagination.page_size + 1,
        )
