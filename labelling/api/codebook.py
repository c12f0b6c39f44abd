"""Codebook endpoints: members read the whole tree; the owner creates, changes and deletes
dimensions and categories (the services refuse changes that would strand stored labels)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.api.serializers import (
    CategoryInputSerializer,
    CategorySerializer,
    CodebookSerializer,
    DimensionInputSerializer,
    DimensionSerializer,
)
from labelling.models import Category, Dimension
from labelling.permissions import can_view_study, is_owner, study_for
from labelling.selectors.studies import codebook_tree
from labelling.services.codebooks import (
    category_create,
    category_delete,
    category_update,
    dimension_create,
    dimension_delete,
    dimension_update,
)

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")
PK = OpenApiParameter("pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="The dimension's or category's id.")


def _dimension(study, pk) -> Dimension:
    return get_object_or_404(Dimension, pk=pk, codebook__study=study)


def _category(study, pk) -> Category:
    return get_object_or_404(
        Category.objects.select_related("dimension", "parent"), pk=pk, dimension__codebook__study=study
    )


class CodebookView(APIView):
    """The study's codebook: dimensions in order, each with its categories and their sub-categories."""

    @extend_schema(parameters=[SLUG], responses=CodebookSerializer)
    def get(self, request, slug):
        study = study_for(request.user, slug, check=can_view_study)
        codebook = study.codebook
        data = {
            "name": codebook.name,
            "description": codebook.description,
            "source": codebook.source,
            "template_slug": study.template_slug,
            "version": study.codebook_version,
            "dimensions": codebook_tree(codebook=codebook),
        }
        return Response(CodebookSerializer(data).data)


class DimensionListView(APIView):
    """GET (members): the dimensions. POST (owner): add a dimension."""

    @extend_schema(parameters=[SLUG], responses=DimensionSerializer(many=True))
    def get(self, request, slug):
        study = study_for(request.user, slug, check=can_view_study)
        return Response(DimensionSerializer(codebook_tree(codebook=study.codebook), many=True).data)

    @extend_schema(parameters=[SLUG], request=DimensionInputSerializer, responses={201: DimensionSerializer})
    def post(self, request, slug):
        study = study_for(request.user, slug, check=is_owner)
        data = DimensionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dimension = dimension_create(codebook=study.codebook, **data.validated_data, by=request.user)
        return Response(DimensionSerializer(dimension).data, status=status.HTTP_201_CREATED)


class DimensionDetailView(APIView):
    """GET (members), PATCH (owner), DELETE (owner) one dimension."""

    @extend_schema(parameters=[SLUG, PK], responses=DimensionSerializer)
    def get(self, request, slug, pk):
        study = study_for(request.user, slug, check=can_view_study)
        return Response(DimensionSerializer(_dimension(study, pk)).data)

    @extend_schema(parameters=[SLUG, PK], request=DimensionInputSerializer, responses=DimensionSerializer)
    def patch(self, request, slug, pk):
        study = study_for(request.user, slug, check=is_owner)
        dimension = _dimension(study, pk)
        data = DimensionInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        dimension = dimension_update(dimension=dimension, data=dict(data.validated_data), by=request.user)
        return Response(DimensionSerializer(dimension).data)

    @extend_schema(parameters=[SLUG, PK], responses={204: OpenApiResponse(description="Deleted.")})
    def delete(self, request, slug, pk):
        study = study_for(request.user, slug, check=is_owner)
        dimension_delete(dimension=_dimension(study, pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CategoryListView(APIView):
    """GET (members): a dimension's categories, flat. POST (owner): add a category to it."""

    @extend_schema(parameters=[SLUG, PK], responses=CategorySerializer(many=True))
    def get(self, request, slug, pk):
        study = study_for(request.user, slug, check=can_view_study)
        dimension = _dimension(study, pk)
        categories = dimension.categories.select_related("parent", "dimension").order_by("order", "id")
        return Response(CategorySerializer(categories, many=True).data)

    @extend_schema(parameters=[SLUG, PK], request=CategoryInputSerializer, responses={201: CategorySerializer})
    def post(self, request, slug, pk):
        study = study_for(request.user, slug, check=is_owner)
        dimension = _dimension(study, pk)
        data = CategoryInputSerializer(data=request.data, context={"dimension": dimension})
        data.is_valid(raise_exception=True)
        category = category_create(dimension=dimension, **data.validated_data, by=request.user)
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)


class CategoryDetailView(APIView):
    """GET (members), PATCH (owner), DELETE (owner; refused while labels use it) one category."""

    @extend_schema(parameters=[SLUG, PK], responses=CategorySerializer)
    def get(self, request, slug, pk):
        study = study_for(request.user, slug, check=can_view_study)
        return Response(CategorySerializer(_category(study, pk)).data)

    @extend_schema(parameters=[SLUG, PK], request=CategoryInputSerializer, responses=CategorySerializer)
    def patch(self, request, slug, pk):
        study = study_for(request.user, slug, check=is_owner)
        category = _category(study, pk)
        data = CategoryInputSerializer(data=request.data, partial=True, context={"dimension": category.dimension})
        data.is_valid(raise_exception=True)
        category = category_update(category=category, data=dict(data.validated_data), by=request.user)
        return Response(CategorySerializer(category).data)

    @extend_schema(parameters=[SLUG, PK], responses={204: OpenApiResponse(description="Deleted.")})
    def delete(self, request, slug, pk):
        study = study_for(request.user, slug, check=is_owner)
        category_delete(category=_category(study, pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
