"""Web pages for crash groups: the list, one group (traces, frames kept and dropped, reproducers),
and the owners' merge, split and known-issue actions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from config.errors import ApplicationError
from config.keyset import bounded_count, keyset_page_context
from triage.crashes import selectors
from triage.crashes.intake import ORACLES
from triage.crashes.services import crash_group_link_known_issues, crash_group_split, crash_groups_merge
from triage.crashes.signatures import sign
from triage.models import CrashGroup
from triage.permissions import can_curate_reports

PAGE_SIZE = 50


def _group_or_404(pk: int) -> CrashGroup:
    try:
        return selectors.crash_group_detail(pk=pk)
    except CrashGroup.DoesNotExist:
        raise Http404("No such crash group.") from None


@login_required
@require_GET
def crash_list(request):
    filters = selectors.CrashGroupFilter(
        fuzzer=request.GET.get("fuzzer", "").strip(),
        framework=request.GET.get("framework", "").strip(),
        oracle=request.GET.get("oracle", "").strip(),
        version=request.GET.get("version", "").strip(),
        sort=request.GET.get("sort", "count") if request.GET.get("sort") in selectors.SORTS else "count",
    )
    groups = selectors.crash_groups_matching(filters)
    paging, status = keyset_page_context(request, groups, size=PAGE_SIZE)
    filtered = any([filters.fuzzer, filters.framework, filters.oracle, filters.version])
    matching, more = bounded_count(groups)
    context = {
        **paging,
        "matching": matching,
        "matching_more": more,
        "filters": filters,
        "filtered": filtered,
        "choices": selectors.crash_group_filter_choices(),
        "oracles": ORACLES,
    }
    return render(request, "triage/crashes/crash_list.html", context, status=status)


@login_required
@require_GET
def crash_detail(request, pk: int):
    group = _group_or_404(pk)
    occurrences = selectors.crash_group_occurrences(group=group)
    shown = occurrences[0] if occurrences else None
    signed = (
        sign(
            framework=shown.framework,
            oracle=shown.oracle,
            api=shown.api,
            message=shown.message,
            stack_trace=shown.stack_trace,
        )
        if shown
        else None
    )
    context = {
        "group": group,
        "report": group.report,
        "occurrences": occurrences,
        "shown": shown,
        "signed": signed,
        "signatures": selectors.crash_group_signatures(group=group),
        "decisions": selectors.crash_group_decisions(group=group),
        "possibly_known": list(group.possibly_known.order_by("id")),
        "reproducers": sorted({o.reproducer for o in occurrences if o.reproducer.strip()}, key=len)[:5],
        "can_decide": can_curate_reports(request.user),
    }
    return render(request, "triage/crashes/crash_detail.html", context)


def _owner_post(request, pk: int) -> CrashGroup:
    if not can_curate_reports(request.user):
        raise PermissionDenied("Merging and splitting crash groups needs the curator role; ask a staff member.")
    return _group_or_404(pk)


@login_required
@require_POST
def crash_merge(request, pk: int):
    target = _owner_post(request, pk)
    raw = request.POST.get("others", "")
    try:
        ids = [int(part) for part in raw.replace(",", " ").split()]
    except ValueError:
        messages.error(request, "Give the ids of the groups to merge as numbers, e.g. 12, 40.")
        return redirect("triage:crash-detail", pk=pk)
    others = list(CrashGroup.objects.filter(id__in=ids))
    missing = sorted(set(ids) - {g.id for g in others})
    try:
        if missing:
            raise ApplicationError(f"No crash group {', '.join(map(str, missing))}; check the ids on the crash list.")
        crash_groups_merge(target=target, others=others, decided_by=request.user, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        merged = ngettext("Merged %d group", "Merged %d groups", len(others)) % len(others)
        messages.success(request, f"{merged} into this one; their later occurrences come here.")
    return redirect("triage:crash-detail", pk=pk)


@login_required
@require_POST
def crash_split(request, pk: int):
    group = _owner_post(request, pk)
    try:
        new = crash_group_split(
            group=group,
            signatures=request.POST.getlist("signatures"),
            decided_by=request.user,
            reason=request.POST.get("reason", ""),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("triage:crash-detail", pk=pk)
    messages.success(request, "Split the chosen signatures into their own group.")
    return redirect("triage:crash-detail", pk=new.pk)


@login_required
@require_POST
def crash_link_known(request, pk: int):
    group = _owner_post(request, pk)
    found = crash_group_link_known_issues(group=group)
    messages.success(
        request,
        ngettext(
            "%d GitHub issue carries a trace with this signature.",
            "%d GitHub issues carry a trace with this signature.",
            found,
        )
        % found,
    )
    return redirect("triage:crash-detail", pk=pk)
