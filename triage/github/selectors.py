"""Reads for GitHub ingestion, shared by the pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from triage.models import CodeBlock, GitHubSource, LinkedChange, Report, SyncRun
from triage.permissions import can_manage_github_sources


def github_sources_visible_to(user) -> QuerySet[GitHubSource]:
    """The sources ``user`` may see, change and sync: their own (while they may manage sources),
    every source for staff (triage/permissions.py)."""
    if not can_manage_github_sources(user):
        return GitHubSource.objects.none()
    sources = GitHubSource.objects.select_related("owner").order_by("name", "id")
    return sources if user.is_staff else sources.filter(owner=user)


def github_source_runs(*, source: GitHubSource) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(source=source).order_by("-created_at", "-id")


def sync_runs_visible_to(user) -> QuerySet[SyncRun]:
    """Sync runs of the sources ``user`` may see."""
    runs = SyncRun.objects.select_related("source").order_by("-created_at", "-id")
    return runs.filter(source__in=github_sources_visible_to(user).values("pk"))


def report_github_context(*, report: Report) -> dict:
    """What the report page shows of a GitHub issue: comments, linked changes, code blocks, links."""
    try:
        details = report.issue
    except Report.issue.RelatedObjectDoesNotExist:
        details = None
    if details is None:
        return {}
    comments = list(report.comments.order_by("created_at", "id"))
    links = list(LinkedChange.objects.filter(report=report).order_by("-closes", "event_at", "id"))
    blocks = list(CodeBlock.objects.filter(report=report))
    return {
        "details": details,
        "comments": comments,
        "linked_changes": links,
        "fix": next((link for link in links if link.closes), None),
        "code_blocks": blocks,
        "notebook_links": details.links,
    }
