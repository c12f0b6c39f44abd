"""Study endpoints: list and create studies, read and change one, its members and assignments.

Every study-scoped endpoint fetches the study through ``labelling.permissions.study_for``: a
non-member gets 404, a member without the right role 403, an anonymous caller 401.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from labelling.api.serializers import (
    AssignmentSerializer,
    AssignmentsMadeSerializer,
    InvitationInputSerializer,
    InvitationSerializer,
    MembershipInputSerializer,
    MembershipRoleInputSerializer,
    MembershipSerializer,
    NewInvitationSerializer,
    StudyCreateInputSerializer,
    StudyDetailSerializer,
    StudySerializer,
    StudyUpdateInputSerializer,
)
from labelling.models import Assignment, Membership, Study, StudyInvitation
from labelling.permissions import can_view_study, is_owner, study_for
from labelling.selectors.invitations import invitations_of
from labelling.selectors.studies import assignments_visible_to, members_of, studies_with_role, study_progress
from labelling.services.assignments import assignments_make
from labelling.services.invitations import invitation_revoke, invitations_create
from labelling.services.studies import membership_remove, membership_set, study_create, study_update
from triage.permissions import CanCreateStudiesOrReadOnly

SLUG = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The study's slug.")
INVITATION_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The invitation's id.")
USER_ID = OpenApiParameter("user_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The member's user id.")


class StudyListCreateView(generics.ListAPIView):
    """GET: the studies you belong to. POST: create a study (you become its owner; researchers,
    curators and staff only)."""

    serializer_class = StudySerializer
    permission_classes = [IsAuthenticated, CanCreateStudiesOrReadOnly]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Study.objects.none()
        return studies_with_role(user=self.request.user).select_related("created_by")

    @extend_schema(request=StudyCreateInputSerializer, responses={201: StudyDetailSerializer})
    def post(self, request):
        data = StudyCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        study = study_create(
            slug=d["slug"],
            name=d["name"],
            owner=request.user,
            template_slug=d["template"] or None,
            codebook=d.get("codebook"),
            description=d["description"],
            overlap_k=d["overlap_k"],
            blind=d["blind"],
            reproduction_suggestions=d.get("reproduction_suggestions"),
            exclusion_reasons=d["exclusion_reasons"],
        )
        context = {"request": request, "progress": study_progress(study=study, user=request.user, with_funnel=True)}
        out = StudyDetailSerializer(study, context=context)
        return Response(out.data, status=status.HTTP_201_CREATED)


class StudyDetailView(APIView):
    """GET (members): the study with its progress. PATCH (owner): change its settings.

    While the study is blind an annotator gets only their own progress: the study-wide labelling
    figures are null and ``annotators`` lists them alone (they are computed from others' labels)."""

    @extend_schema(parameters=[SLUG], responses=StudyDetailSerializer)
    def get(self, request, slug):
        study = study_for(request.user, slug, check=can_view_study)
        context = {"request": request, "progress": study_progress(study=study, user=request.user, with_funnel=True)}
        return Response(StudyDetailSerializer(study, context=context).data)

    @extend_schema(parameters=[SLUG], request=StudyUpdateInputSerializer, responses=StudyDetailSerializer)
    def patch(self, request, slug):
        study = study_for(request.user, slug, check=is_owner)
        data = StudyUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        study = study_update(study=study, data=dict(data.validated_data))
        context = {"request": request, "progress": study_progress(study=study, user=request.user, with_funnel=True)}
        return Response(StudyDetailSerializer(study, context=context).data)


def _user_named(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ApplicationError(
            f"There is no user '{username}'. Check the spelling, or invite them: POST "
            "/api/studies/{slug}/invitations/ makes a link with which they create their account.",
            status=400,
            details={"username": [f"No user '{username}'."]},
        )
    return user


class MemberListView(APIView):
    """GET (members): who is in the study. POST (owner): add a member or change their role."""

    @extend_schema(parameters=[SLUG], responses=MembershipSerializer(many=True))
    def get(self, request, slug):
        study = study_for(request.user, slug, check=can_view_study)
        return Response(MembershipSerializer(members_of(study=study), many=True).data)

    @extend_schema(parameters=[SLUG], request=MembershipInputSerializer, responses={201: MembershipSerializer})
    def post(self, request, slug):
        study = study_for(request.user, slug, check=is_owner)
        data = MembershipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = _user_named(data.validated_data["username"])
        membership = membership_set(study=study, user=user, role=data.validated_data["role"])
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    """PATCH (owner): change a member's role. DELETE (owner): remove them. The last owner stays."""

    def _membership(self, request, slug, user_id):
        study = study_for(request.user, slug, check=is_owner)
        membership = get_object_or_404(Membership.objects.select_related("user"), study=study, user_id=user_id)
        return study, membership

    @extend_schema(parameters=[SLUG, USER_ID], request=MembershipRoleInputSerializer, responses=MembershipSerializer)
    def patch(self, request, slug, user_id):
        study, membership = self._membership(request, slug, user_id)
        data = MembershipRoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_set(study=study, user=membership.user, role=data.validated_data["role"])
        return Response(MembershipSerializer(membership).data)

    @extend_schema(parameters=[SLUG, USER_ID], responses={204: OpenApiResponse(description="Removed.")})
    def delete(self, request, slug, user_id):
        study, membership = self._membership(request, slug, user_id)
        membership_remove(study=study, user=membership.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListView(APIView):
    """GET (owner): the study's invitation links (not the links themselves: only their hashes are
    kept). POST (owner): make ``count`` one-time links for ``role``; the answer holds each ``url``,
    shown this once."""

    @extend_schema(parameters=[SLUG], responses=InvitationSerializer(many=True))
    def get(self, request, slug):
        study = study_for(request.user, slug, check=is_owner)
        return Response(InvitationSerializer(invitations_of(study=study), many=True).data)

    @extend_schema(
        parameters=[SLUG], request=InvitationInputSerializer, responses={201: NewInvitationSerializer(many=True)}
    )
    def post(self, request, slug):
        study = study_for(request.user, slug, check=is_owner)
        data = InvitationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = invitations_create(study=study, created_by=request.user, **data.validated_data)
        out = NewInvitationSerializer(made, many=True, context={"request": request})
        return Response(out.data, status=status.HTTP_201_CREATED)


class InvitationDetailView(APIView):
    """DELETE (owner): withdraw an invitation that is not used yet; its link stops working."""

    @extend_schema(parameters=[SLUG, INVITATION_ID], responses={204: OpenApiResponse(description="Withdrawn.")})
    def delete(self, request, slug, pk):
        study = study_for(request.user, slug, check=is_owner)
        invitation_revoke(invitation=get_object_or_404(StudyInvitation, study=study, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssignmentListView(generics.ListAPIView):
    """GET: assignments (owners and viewers see all; an annotator only their own).
    POST (owner): top every included item up to k annotators."""

    serializer_class = AssignmentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Assignment.objects.none()
        study = study_for(self.request.user, self.kwargs["slug"], check=can_view_study)
        return assignments_visible_to(study=study, user=self.request.user)

    @extend_schema(parameters=[SLUG])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(parameters=[SLUG], request=None, responses={201: AssignmentsMadeSerializer})
    def post(self, request, slug):
        study = study_for(request.user, slug, check=is_owner)
        created = assignments_make(study=study)
        return Response({"created": created}, status=status.HTTP_201_CREATED)
