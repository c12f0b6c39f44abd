"""API: a study's releases (list, create, detail, download) and loading a package into a new study.

* ``GET /api/studies/SLUG/releases/``: owners and viewers (annotators and adjudicators 403);
* ``POST /api/studies/SLUG/releases/``: the owner freezes the study (400 naming what is wrong:
  a version not greater than the latest, an unknown licence);
* ``GET /api/studies/SLUG/releases/VERSION/`` and ``.../download/`` (the zip);
* ``POST /api/releases/load/``: staff or users who may create studies upload a package.
"""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.permissions import can_create_releases, can_read_releases, study_for
from labelling.releases.card import DEFAULT_LICENCE, LICENCES
from labelling.releases.load import release_load
from labelling.releases.selectors import release_get, releases_of
from labelling.releases.services import ReleaseOptions, release_create
from triage.permissions import can_create_studies

_ERROR = inline_serializer(
    "ReleaseError", fields={"message": serializers.CharField(), "details": serializers.JSONField()}
)


class ReleaseFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    rows = serializers.IntegerField(allow_null=True, help_text="Data rows of a table; null for other files.")


class ReleaseSerializer(serializers.Serializer):
    version = serializers.CharField()
    title = serializers.CharField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    licence = serializers.CharField()
    include_bodies = serializers.BooleanField()
    name_annotators = serializers.BooleanField()
    filename = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField(help_text="SHA-256 of the whole zip.")
    counts = serializers.JSONField()
    changes = serializers.JSONField(help_text="What changed since the previous release (null previous: the first).")
    download = serializers.SerializerMethodField()
    files = ReleaseFileSerializer(many=True)

    def get_download(self, release) -> str:
        return f"/api/studies/{release.study.slug}/releases/{release.version}/download/"


class ReleaseCreateInput(serializers.Serializer):
    version = serializers.CharField(help_text="Semantic version greater than the latest release, e.g. 1.0.0.")
    include_bodies = serializers.BooleanField(default=False, help_text="Put the reports' bodies in items.csv.")
    name_annotators = serializers.BooleanField(default=False, help_text="Usernames instead of A1, A2, ...")
    licence = serializers.ChoiceField(choices=list(LICENCES), default=DEFAULT_LICENCE)
    figures = serializers.BooleanField(default=True, help_text="Include the analytics charts (figures/).")


class ReleaseListApi(APIView):
    @extend_schema(operation_id="study_releases_list", responses={200: ReleaseSerializer(many=True), 403: _ERROR})
    def get(self, request, slug: str):
        study = study_for(request.user, slug, check=can_read_releases)
        return Response(ReleaseSerializer(releases_of(study=study), many=True).data)

    @extend_schema(
        operation_id="study_release_create",
        request=ReleaseCreateInput,
        responses={201: ReleaseSerializer, 400: _ERROR, 403: _ERROR},
        description="Freeze the study as it is now. Runs while the request waits (about a minute for "
        "100,000 items). A release is never changed or replaced.",
    )
    def post(self, request, slug: str):
        study = study_for(request.user, slug, check=can_create_releases)
        data = ReleaseCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        release = release_create(
            study=study,
            version=d["version"],
            created_by=request.user,
            options=ReleaseOptions(
                include_bodies=d["include_bodies"],
                name_annotators=d["name_annotators"],
                licence=d["licence"],
                figures=d["figures"],
            ),
        )
        return Response(ReleaseSerializer(releases_of(study=study).get(pk=release.pk)).data, status=201)


class ReleaseDetailApi(APIView):
    @extend_schema(operation_id="study_release_detail", responses={200: ReleaseSerializer, 403: _ERROR, 404: _ERROR})
    def get(self, request, slug: str, version: str):
        study = study_for(request.user, slug, check=can_read_releases)
        return Response(ReleaseSerializer(release_get(study=study, version=version)).data)


def release_file_response(release) -> FileResponse:
    response = FileResponse(release.file.open("rb"), as_attachment=True, filename=release.filename)
    response["Content-Type"] = "application/zip"
    response["X-Checksum-SHA256"] = release.sha256
    response["Cache-Control"] = "private, max-age=3600"  # immutable, but for members only
    return response


class ReleaseDownloadApi(APIView):
    @extend_schema(
        operation_id="study_release_download",
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY), 403: _ERROR, 404: _ERROR},
    )
    def get(self, request, slug: str, version: str):
        study = study_for(request.user, slug, check=can_read_releases)
        return release_file_response(release_get(study=study, version=version))


class ReleaseLoadInput(serializers.Serializer):
    file = serializers.FileField(help_text="A release .zip made by Bugsift.")
    study = serializers.SlugField(required=False, allow_blank=True, help_text="The new study's slug.")


class LoadedSurveyOutput(serializers.Serializer):
    name = serializers.CharField(help_text="The survey's slug in the package.")
    slug = serializers.CharField(help_text="Its slug here (suffixed with the study's slug when the name was taken).")
    responses = serializers.IntegerField()
    answers = serializers.IntegerField()


class ReleaseLoadOutput(serializers.Serializer):
    study = serializers.CharField()
    items = serializers.IntegerField()
    reports_created = serializers.IntegerField()
    reports_reused = serializers.IntegerField()
    labels = serializers.IntegerField()
    final_labels = serializers.IntegerField()
    adjudications = serializers.IntegerField()
    annotators = serializers.IntegerField()
    surveys = LoadedSurveyOutput(many=True)


class ReleaseLoadApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="release_load",
        request={"multipart/form-data": ReleaseLoadInput},
        responses={201: ReleaseLoadOutput, 400: _ERROR, 403: _ERROR},
        description="Check the package (frictionless validation, every checksum, the codebook against the data) "
        "and create a study from it, owned by the caller. Any problem: 400 listing them in details, nothing "
        "written. Staff and users who may create studies.",
    )
    def post(self, request):
        if not can_create_studies(request.user):
            raise PermissionDenied("Loading a release creates a study: you need the right to create studies.")
        data = ReleaseLoadInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = release_load(
            source=data.validated_data["file"], owner=request.user, slug=data.validated_data.get("study") or None
        )
        return Response(ReleaseLoadOutput(result.as_dict()).data, status=status.HTTP_201_CREATED)
