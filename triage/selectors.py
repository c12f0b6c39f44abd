"""Reads of reports that are reused by views, the API and other apps."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from triage.models import Report


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
