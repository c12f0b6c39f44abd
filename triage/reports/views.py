"""Web pages for reports: the list, one report, and importing a file of reports."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from config.errors import ApplicationError
from config.keyset import bounded_count, keyset_page_context
from triage.models import Report
from triage.permissions import CanCurateReports, can_curate_reports, can_manage_github_sources
from triage.reports import overview, selectors, services
from triage.reports.files import EXAMPLE_CSV_HEADER, EXAMPLE_JSONL
from triage.reports.selectors import (
    import_jobs_visible_to,
    report_framework_counts,
    report_study_items_for,
    report_total,
    with_readable_study_items,
)
from triage.reports.serializers import ReportFilterSet

PAGE_SIZE = 50


@login_required
@require_GET
def report_list(request):
    filterset = ReportFilterSet(request.GET, queryset=Report.objects.none())
    reports = filterset.qs if filterset.is_valid() else Report.objects.none()
    filtered = bool(filterset.report_filter().as_json())
    paging, status = keyset_page_context(request, with_readable_study_items(reports, user=request.user), size=PAGE_SIZE)
    matching, more = bounded_count(reports) if filtered else (None, False)
    context = {
        "filterset": filterset,
        "form": filterset.form,
        **paging,
        "filtered": filtered,
        "matching": matching,
        "matching_more": more,
        "total_reports": report_total(),
        "frameworks": report_framework_counts(),
        "kinds": Report.Kind.choices,
        "can_import": can_curate_reports(request.user),
    }
    return render(request, "triage/reports/report_list.html", context, status=status)


@login_required
@require_GET
def reports_overview(request):
    """Reports, crash groups and GitHub syncs over time: a Plotly chart and a table each (issue 14)."""
    try:
        rng = overview.overview_range_from(request.GET)
        error = None
    except ApplicationError as exc:
        rng, error = overview.OverviewRange(), exc
    charts = []
    for chart in overview.CHARTS:
        rows = chart.data(rng, request.user)
        charts.append(
            {
                "chart": chart,
                "rows": rows,
                "table": overview.chart_table(chart, rows, rng),
                "figure": overview.chart_figure(chart, rows, rng) if rows else None,
                "figure_id": f"figure-{chart.id}",
                "query": urlencode({**rng.as_params(), "format": "csv"}),
            }
        )
    context = {
        "charts": charts,
        "range": rng,
        "values": {
            "from": request.GET.get("from", ""),
            "to": request.GET.get("to", ""),
            "bucket": request.GET.get("bucket", "auto"),
        },
        "error": error,
        "sees_syncs": can_manage_github_sources(request.user),
    }
    return render(request, "triage/reports/overview.html", context, status=400 if error else 200)


@login_required
@require_GET
def report_detail(request, pk: int):
    report = selectors.report_detail(pk=pk)
    items = report_study_items_for(report=report, user=request.user)
    return render(request, "triage/reports/report_detail.html", {"report": report, "study_items": items})


class ReportImportForm(forms.Form):
    file = forms.FileField(
        label="File of reports",
        help_text="JSON Lines (.jsonl, one object per line) or CSV (.csv, with a header row), UTF-8.",
        error_messages={"required": "Choose a file to import."},
    )
    format = forms.ChoiceField(
        label="Format",
        required=False,
        choices=[("", "From the file name (.jsonl, .ndjson, .json or .csv)"), ("jsonl", "JSON Lines"), ("csv", "CSV")],
    )


@login_required
@require_http_methods(["GET", "POST"])
def report_import(request):
    if not can_curate_reports(request.user):
        raise PermissionDenied(CanCurateReports.message)
    form = ReportImportForm(request.POST, request.FILES) if request.method == "POST" else ReportImportForm()
    if request.method == "POST" and form.is_valid():
        try:
            job = services.import_job_create(
                upload=form.cleaned_data["file"], fmt=form.cleaned_data["format"] or None, created_by=request.user
            )
        except ApplicationError as exc:
            fields = (
                [name for name in (exc.details or {}) if name in form.fields] if isinstance(exc.details, dict) else []
            )
            form.add_error(fields[0] if fields else None, exc.message)
        else:
            # No "queued" banner: the job page shows its state live (queued, running, done).
            return redirect("triage:import-job", pk=job.pk)
    context = {
        "form": form,
        "jobs": import_jobs_visible_to(request.user).filter(created_by=request.user)[:10],
        "example_jsonl": EXAMPLE_JSONL,
        "example_csv_header": EXAMPLE_CSV_HEADER,
    }
    return render(request, "triage/reports/import_form.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def import_job_detail(request, pk: int):
    job = get_object_or_404(import_jobs_visible_to(request.user), pk=pk)
    return render(request, "triage/reports/import_job.html", {"job": job})


@login_required
@require_GET
def import_job_progress(request, pk: int):
    """The progress partial that the job page polls with htmx until the job is finished."""
    job = get_object_or_404(import_jobs_visible_to(request.user), pk=pk)
    return render(request, "triage/reports/_import_job_progress.html", {"job": job})
