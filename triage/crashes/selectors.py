"""Reads of crash groups shared by the pages, the API and the commands."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, QuerySet

from triage.models import CrashGroup, CrashOccurrence, GroupDecision
from triage.reports.counts import cached_until_reports_change

# Each sort ends in id (a total order, for keyset pages: config.keyset) and has its index
# (CrashGroup.Meta.indexes); groups never seen (no last_seen) come last.
SORTS = {
    "count": ("-occurrence_count", F("last_seen").desc(nulls_last=True), "id"),
    "recent": (F("last_seen").desc(nulls_last=True), "id"),
}


@dataclass(frozen=True)
class CrashGroupFilter:
    fuzzer: str = ""
    framework: str = ""
    oracle: str = ""
    version: str = ""
    sort: str = "count"
    include_merged: bool = False


def crash_groups_matching(filters: CrashGroupFilter) -> QuerySet[CrashGroup]:
    """Groups matching the filters (merged-away groups left out unless asked), sorted by count or
    recency, with their report (its body and the smallest reproducer, never listed, are not read)."""
    qs = CrashGroup.objects.select_related("report").defer(
        "smallest_reproducer", "report__body", "report__raw", "report__content_hash"
    )
    if not filters.include_merged:
        qs = qs.filter(merged_into__isnull=True)
    if filters.framework:
        qs = qs.filter(framework=filters.framework.lower())
    if filters.oracle:
        qs = qs.filter(oracle=filters.oracle)
    if filters.fuzzer:
        qs = qs.filter(Exists(CrashOccurrence.objects.filter(group=OuterRef("pk"), fuzzer=filters.fuzzer)))
    if filters.version:
        qs = qs.filter(Exists(CrashOccurrence.objects.filter(group=OuterRef("pk"), framework_version=filters.version)))
    return qs.order_by(*SORTS.get(filters.sort, SORTS["count"]))


def crash_group_filter_choices() -> dict[str, list[str]]:
    """Values offered in the list's filter menus (cached until a report, hence a group, is created)."""
    return cached_until_reports_change(
        "crash-group-filter-choices",
        lambda: {
            "framework": list(CrashGroup.objects.values_list("framework", flat=True).distinct().order_by("framework")),
            "oracle": list(CrashGroup.objects.values_list("oracle", flat=True).distinct().order_by("oracle")),
        },
    )


def crash_group_detail(*, pk: int) -> CrashGroup:
    return CrashGroup.objects.select_related("report", "merged_into").get(pk=pk)


def crash_group_occurrences(*, group: CrashGroup, limit: int = 50) -> list[CrashOccurrence]:
    return list(CrashOccurrence.objects.filter(group=group).order_by("-received_at", "-id")[:limit])


def crash_group_signatures(*, group: CrashGroup) -> list[dict]:
    """[{signature, n, own}] of the occurrences in a group (several after a merge)."""
    rows = (
        CrashOccurrence.objects.filter(group=group)
        .values("signature")
        .annotate(n=Count("id"))
        .order_by("-n", "signature")
    )
    return [{**row, "own": row["signature"] == group.signature} for row in rows]


def crash_group_decisions(*, group: CrashGroup) -> list[GroupDecision]:
    return list(GroupDecision.objects.filter(group=group).select_related("other", "decided_by").order_by("-decided_at"))
