"""Survey endpoints: list and create surveys (study owners), and answer one through a link (anyone).

``/api/surveys/respond/TOKEN/`` is public (``AllowAny``, no authentication at all: a response is
never tied to an account); the token is the respondent's invitation or the survey's open link.
"""

from __future__ import annotations

from django.db.models import Q
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from labelling.permissions import READ_RESULTS_ROLES, study_for
from surveys.api.serializers import (
    RespondDefinitionSerializer,
    RespondInputSerializer,
    RespondResultSerializer,
    SurveyCreateInputSerializer,
    SurveyDetailSerializer,
    SurveySerializer,
)
from surveys.generation import definition_from_codebook
from surveys.models import Survey
from surveys.permissions import can_build_survey
from surveys.selectors import link_for_token, response_of, stored_answers, survey_accepts_answers
from surveys.services import response_answer, survey_create

TOKEN = OpenApiParameter(
    "survey_token", OpenApiTypes.STR, OpenApiParameter.PATH, description="The survey link's token."
)


class SurveyListCreateView(generics.ListAPIView):
    """GET: the surveys of the studies whose results you read (owner, viewer). POST (the study's
    owner): create a draft survey from a definition or generated from codebook dimensions."""

    serializer_class = SurveySerializer

    def get_queryset(self):
        surveys = Survey.objects.select_related("study", "current_version").order_by("-created_at", "-id")
        if getattr(self, "swagger_fake_view", False) or self.request.user.is_staff:
            return surveys
        mine = Q(study__memberships__user=self.request.user, study__memberships__role__in=READ_RESULTS_ROLES)
        return surveys.filter(mine).distinct()

    @extend_schema(request=SurveyCreateInputSerializer, responses={201: SurveyDetailSerializer})
    def post(self, request):
        data = SurveyCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        study = study_for(request.user, d["study"], check=can_build_survey)
        definition = d.get("definition")
        if definition is None:
            definition = definition_from_codebook(study=study, dimensions=d["from_codebook"], title=d.get("title", ""))
        survey = survey_create(study=study, slug=d["slug"], definition=definition, created_by=request.user)
        return Response(SurveyDetailSerializer(survey).data, status=status.HTTP_201_CREATED)


class RespondView(APIView):
    """GET: the survey behind a link (its current definition, or the one your saved answers refer to)
    and your answers so far. POST: consent, answers and submit, e.g.
    ``{"consent": true, "answers": {"familiar": "Yes", "scale": 4}, "submit": true}``; without
    ``submit`` the answers are saved and you can come back with the same link. An unknown link is a
    404, a used one or a closed survey a 409, a bad answer a 400 naming the question; nothing is
    stored then."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(parameters=[TOKEN], responses=RespondDefinitionSerializer)
    def get(self, request, survey_token):
        link = link_for_token(token=survey_token)
        closed = survey_accepts_answers(link.survey)
        if closed:
            raise ApplicationError(closed, status=409)
        response = response_of(link)
        if response is not None and response.status == response.Status.SUBMITTED:
            raise ApplicationError("This link's answers were already submitted; each link answers once.", status=409)
        version = response.version if response is not None else link.survey.current_version
        out = {
            "survey": link.survey.slug,
            "version": version.number,
            "status": response.status if response is not None else "new",
            "definition": version.definition,
            "answers": stored_answers(response),
        }
        return Response(RespondDefinitionSerializer(out).data)

    @extend_schema(parameters=[TOKEN], request=RespondInputSerializer, responses={200: RespondResultSerializer})
    def post(self, request, survey_token):
        data = RespondInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        done = response_answer(token=survey_token, consent=d["consent"], answers=d["answers"], submit=d["submit"])
        messages = {
            "declined": "You declined; nothing was stored.",
            "in_progress": "Your answers are saved; come back with the same link to go on.",
            "submitted": "Thank you: your answers are submitted.",
        }
        url = request.build_absolute_uri(reverse("surveys:respond", args=[done.token])) if done.token else None
        out = {
            "status": done.status,
            "message": messages[done.status],
            "missing": list(done.missing),
            "token": done.token,
            "url": url,
        }
        return Response(RespondResultSerializer(out).data, status=status.HTTP_200_OK)
