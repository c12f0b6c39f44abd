"""REST endpoints for GitHub sources and their sync runs (the same services as the pages).

Curators define sources; each sees, changes and syncs its own, staff every source (others' answer
404; triage/permissions.py). ``base_url`` must be one of BUGSIFT_GITHUB_API_URLS. The
token is write-only: it is accepted, stored server-side and shown back only as ``token_set``.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from triage.github import selectors, services
from triage.models import GitHubSource, SyncRun
from triage.permissions import CanManageGitHubSources


class GitHubSourceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    repository = serializers.CharField(max_length=200)
    state = serializers.ChoiceField(choices=GitHubSource.State.choices, required=False)
    labels = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    created_from = serializers.DateTimeField(required=False, allow_null=True)
    created_to = serializers.DateTimeField(required=False, allow_null=True)
    closed_from = serializers.DateTimeField(required=False, allow_null=True)
    closed_to = serializers.DateTimeField(required=False, allow_null=True)
    query = serializers.CharField(max_length=500, required=False, allow_blank=True)
    include_pull_requests = serializers.BooleanField(required=False)
    with_comments = serializers.BooleanField(required=False)
    base_url = serializers.URLField(required=False, allow_blank=True)
    schedule_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=5)
    token = serializers.CharField(
        max_length=255, required=False, allow_blank=True, write_only=True, help_text="Write-only; '' removes it."
    )


class GitHubSourceSerializer(serializers.ModelSerializer):
    token_set = serializers.SerializerMethodField()
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    runs_url = serializers.SerializerMethodField()

    class Meta:
        model = GitHubSource
        fields = [
            "id",
            "name",
            "repository",
            "state",
            "labels",
            "created_from",
            "created_to",
            "closed_from",
            "closed_to",
            "query",
            "include_pull_requests",
            "with_comments",
            "base_url",
            "schedule_minutes",
            "token_set",
            "owner",
            "last_success_at",
            "created_at",
            "runs_url",
        ]

    def get_token_set(self, source) -> bool:
        return bool(source.token)

    def get_runs_url(self, source) -> str:
        return reverse("triage-api:github-run-list", request=self.context.get("request")) + f"?source={source.pk}"


class SyncRunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    repository = serializers.CharField(source="source.repository", read_only=True)

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "url",
            "source",
            "repository",
            "status",
            "since",
            "next_page",
            "pages_fetched",
            "issues_new",
            "issues_updated",
            "issues_unchanged",
            "pull_requests_seen",
            "rate_limit_waits",
            "resume_at",
            "errors",
            "message",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_url(self, run) -> str:
        return reverse("triage-api:github-run-detail", args=[run.pk], request=self.context.get("request"))


class GitHubSourceListAPI(APIView):
    """GitHub sources (GET) and defining one (POST). Curators see their own sources, staff all."""

    permission_classes = [IsAuthenticated, CanManageGitHubSources]

    @extend_schema(responses=GitHubSourceSerializer(many=True))
    def get(self, request):
        paginator = generics.GenericAPIView.pagination_class()
        page = paginator.paginate_queryset(selectors.github_sources_visible_to(request.user), request, view=self)
        data = GitHubSourceSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=GitHubSourceInputSerializer, responses={201: GitHubSourceSerializer})
    def post(self, request):
        data = GitHubSourceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = services.github_source_create(created_by=request.user, **data.validated_data)
        return Response(GitHubSourceSerializer(source, context={"request": request}).data, status=201)


class GitHubSourceDetailAPI(APIView):
    """One source: read (GET), change (PATCH; omit ``token`` to keep it), delete (DELETE)."""

    permission_classes = [IsAuthenticated, CanManageGitHubSources]

    def _source(self, request, pk):
        return generics.get_object_or_404(selectors.github_sources_visible_to(request.user), pk=pk)

    @extend_schema(responses=GitHubSourceSerializer)
    def get(self, request, pk: int):
        return Response(GitHubSourceSerializer(self._source(request, pk), context={"request": request}).data)

    @extend_schema(request=GitHubSourceInputSerializer, responses=GitHubSourceSerializer)
    def patch(self, request, pk: int):
        source = self._source(request, pk)
        data = GitHubSourceInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        source = services.github_source_update(source=source, token=fields.pop("token", None), **fields)
        return Response(GitHubSourceSerializer(source, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        services.github_source_delete(source=self._source(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class GitHubSourceSyncAPI(APIView):
    """Start a sync of the source (or get its unfinished one); follow the run's ``url``."""

    permission_classes = [IsAuthenticated, CanManageGitHubSources]

    @extend_schema(request=None, responses={202: SyncRunSerializer})
    def post(self, request, pk: int):
        source = generics.get_object_or_404(selectors.github_sources_visible_to(request.user), pk=pk)
        run = services.sync_run_start(source=source, created_by=request.user)
        body = SyncRunSerializer(run, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class SyncRunListAPI(generics.ListAPIView):
    """Sync runs, newest first; ``?source=<id>`` for one source's runs."""

    permission_classes = [IsAuthenticated, CanManageGitHubSources]
    serializer_class = SyncRunSerializer
    filterset_fields = ["source", "status"]

    def get_queryset(self):
        return selectors.sync_runs_visible_to(self.request.user)


class SyncRunDetailAPI(generics.RetrieveAPIView):
    """One sync run: status, counts, errors."""

    permission_classes = [IsAuthenticated, CanManageGitHubSources]
    serializer_class = SyncRunSerializer
    filterset_class = None

    def get_queryset(self):
        return selectors.sync_runs_visible_to(self.request.user)
