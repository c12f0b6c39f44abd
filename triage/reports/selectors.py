"""Reads of reports that are reused by views, the API and other apps."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from triage.models import Report
from triage.reports.counts import report_framework_counts, report_total  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class ReportFilter:
    """What a researcher can filter reports by. Empty fields do not filter."""

    framework: str = ""
    label: str = ""
    q: str = ""
    kind: str = ""
    state: str = ""
    created_from: datetime | None = None
    created_to: datetime | None = None

    def as_json(self) -> dict:
        data = asdict(self)
        for key in ("created_from", "created_to"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return {k: v for k, v in data.items() if v not in ("", None)}


def reports_matching(f: ReportFilter) -> QuerySet[Report]:
    """Reports matching every non-empty field of ``f``; text search looks in title and body."""
    qs = Report.objects.all()
    if f.framework:
        qs = qs.filter(framework=f.framework.strip().lower())
    if f.kind:
        qs = qs.filter(kind=f.kind)
    if f.state:
        qs = qs.filter(state__iexact=f.state)
    if f.label:
        qs = qs.filter(source_labels__name=f.label)
    if f.q:
        qs = qs.filter(Q(title__icontains=f.q) | Q(body__icontains=f.q) | Q(source_id__icontains=f.q))
    if f.created_from:
        qs = qs.filter(created_at__gte=f.created_from)
    if f.created_to:
        qs = qs.filter(created_at__lte=f.created_to)
    return qs.order_by("id")


def reports_listed(f: ReportFilter) -> QuerySet[Report]:
    """``reports_matching(f)`` as the lists show them (page and API): in id order for keyset pages,
    with their source labels, without the columns no list shows (body, raw payload, hash)."""
    return reports_matching(f).defer("body", "raw", "content_hash").prefetch_related("source_labels")


def report_detail(*, pk: int) -> Report:
    """One report with its source labels; Http404 when there is none."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(Report.objects.prefetch_related("source_labels"), pk=pk)


def report_study_items_for(*, report: Report, user):
    """The study items of ``report`` in the studies ``user`` may see (others are not named).

    Each has ``results_readable``: may ``user`` open its item page (``can_read_results``)?
    """
    from labelling.models import StudyItem
    from labelling.permissions import studies_visible_to, studies_with_results_visible_to

    items = list(
        StudyItem.objects.filter(report=report, study__in=studies_visible_to(user))
        .select_related("study")
        .order_by("study__name")
    )
    if items:
        readable = set(
            studies_with_results_visible_to(user)
            .filter(pk__in={i.study_id for i in items})
            .values_list("pk", flat=True)
        )
        for item in items:
            item.results_readable = item.study_id in readable
    return items


def with_readable_study_items(reports: QuerySet[Report], *, user) -> QuerySet[Report]:
    """``reports`` with ``readable_study_items``: their items in the studies whose results ``user``
    may read (the item pages they can open), study joined, in one more query for the page."""
    from django.db.models import Prefetch

    from labelling.models import StudyItem
    from labelling.permissions import studies_with_results_visible_to

    items = (
        StudyItem.objects.filter(study__in=studies_with_results_visible_to(user))
        .select_related("study")
        .order_by("study__name", "id")
    )
    return reports.prefetch_related(Prefetch("study_items", queryset=items, to_attr="readable_study_items"))


def import_jobs_visible_to(user):
    """Import jobs ``user`` may follow: their own, or every job for staff."""
    from triage.models import ImportJob

    jobs = ImportJob.objects.select_related("created_by")
    return jobs if user.is_staff else jobs.filter(created_by=user)
