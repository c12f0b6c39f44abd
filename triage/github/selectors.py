"""Reads for GitHub ingestion, shared by the pages and the API."""

from __future__ import annotations

from django.db.models import QuerySet

from triage.models import CodeBlock, GitHubSource, LinkedChange, Report, SyncRun


def github_sources() -> QuerySet[GitHubSource]:
    """Every source (sources are shared; who may see them is checked by can_import_reports)."""
    return GitHubSource.objects.order_by("name", "id")


def github_source_runs(*, source: GitHubSource) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(source=source).order_by("-created_at", "-id")


def sync_runs() -> QuerySet[SyncRun]:
    return SyncRun.objects.select_related("source").order_by("-created_at", "-id")


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
