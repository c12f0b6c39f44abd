"""Pages: a survey's results (charts with tables), its exports, and importing responses from a CSV."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from config import csvsafe
from config.errors import ApplicationError
from labelling.permissions import role_in
from surveys import exports
from surveys.response_import import parse_mapping
from surveys.response_import_services import survey_responses_import
from surveys.results_charts import batch_chart, question_chart, timeline_chart
from surveys.results_permissions import (
    can_import_survey_responses,
    can_read_survey_results,
    survey_results_for,
)
from surveys.results_selectors import (
    response_rate_by_batch,
    response_records,
    responses_per_day,
    results_definition,
    results_for,
)

EXPORT_FORMATS = {
    # format: (file suffix, content type, what it is)
    "csv": (".csv", "text/csv; charset=utf-8", "one row per response, answers as text"),
    "numeric": (".numeric.csv", "text/csv; charset=utf-8", "the same with options as numbers (SPSS, R, Stata)"),
    "long": (".long.csv", "text/csv; charset=utf-8", "one row per answer"),
    "categories": (".categories.csv", "text/csv; charset=utf-8", "agreement per codebook category"),
    "spss": (".sps", "text/plain; charset=utf-8", "SPSS syntax for the numeric CSV"),
}


class _Echo:
    def write(self, value):
        return value


def _csv_stream(rows):
    writer = csvsafe.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def export_response(*, survey, fmt: str, header: str = "codes", version: int | None = None) -> StreamingHttpResponse:
    """A download of the survey's submitted responses in ``fmt`` (EXPORT_FORMATS), streamed."""
    definition, chosen = results_definition(survey=survey, version=version)
    suffix, content_type, _ = EXPORT_FORMATS[fmt]
    day = timezone.localdate().isoformat()
    base = f"{survey.slug}-{day}"
    if fmt == "spss":
        body = iter([exports.spss_syntax(definition, filename=f"{base}.numeric.csv")])
    elif fmt == "categories":
        body = _csv_stream(exports.category_rows(definition, results_for(survey=survey, version=version)))
    elif fmt == "long":
        body = _csv_stream(exports.long_rows(definition, response_records(survey=survey, version=chosen)))
    else:
        coding = "numeric" if fmt == "numeric" else "labels"
        records = response_records(survey=survey, version=chosen)
        body = _csv_stream(exports.wide_rows(definition, records, coding=coding, header=header))
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{base}{suffix}"'
    response["Cache-Control"] = "no-store"
    return response


def _question_entry(index: int, q: dict) -> dict:
    """What the page shows for one question: its figure, and for a scale the table's cells."""
    entry = {"q": q, "chart": question_chart(q), "chart_id": f"chart-{index}"}
    if q["kind"] in ("likert", "matrix"):
        scales = q["rows"] if q["kind"] == "matrix" else [{**q, "text": q["text"]}]
        entry["points"] = list(scales[0]["counts"]) if scales else []
        entry["scales"] = [
            {**s, "cells": [(s["counts"].get(p, 0), s["percentages"].get(p)) for p in entry["points"]]} for s in scales
        ]
    return entry


def _version_asked(request) -> int | None:
    raw = request.GET.get("version", "").strip()
    return int(raw) if raw.isdigit() else None


def _results_context(request, survey) -> dict:
    version = _version_asked(request)
    try:
        results = results_for(survey=survey, version=version)
    except ApplicationError as exc:  # no such version: every version, and say so
        messages.warning(request, exc.message)
        version, results = None, results_for(survey=survey)
    questions = [_question_entry(i, q) for i, q in enumerate(results["questions"], start=1)]
    batches = response_rate_by_batch(survey=survey)
    days = responses_per_day(survey=survey)
    study = survey.study
    return {
        "survey": survey,
        "study": study,
        "role": role_in(request.user, study),
        "results": results,
        "questions": questions,
        "batches": batches,
        "batch_chart": batch_chart(batches),
        "days": days,
        "timeline_chart": timeline_chart(days),
        "export_formats": [(fmt, spec[2]) for fmt, spec in EXPORT_FORMATS.items()],
        "can_import": can_import_survey_responses(request.user, study),
        "version": version,
        "versions": list(survey.versions.values_list("number", flat=True)),
    }


@login_required
@require_GET
def survey_results_page(request, survey: str):
    survey = survey_results_for(request.user, survey, check=can_read_survey_results)
    return render(request, "surveys/results.html", _results_context(request, survey))


@login_required
@require_GET
def survey_results_export(request, survey: str, fmt: str):
    survey = survey_results_for(request.user, survey, check=can_read_survey_results)
    if fmt not in EXPORT_FORMATS:
        raise Http404(f"No export format '{fmt}'; use one of: {', '.join(EXPORT_FORMATS)}.")
    header = "text" if request.GET.get("header") == "text" else "codes"
    try:
        return export_response(survey=survey, fmt=fmt, header=header, version=_version_asked(request))
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


@login_required
@require_http_methods(["GET", "POST"])
def survey_responses_import_page(request, survey: str):
    """Upload another tool's CSV with one ``COLUMN=CODE`` line per mapped column (owners)."""
    survey = survey_results_for(request.user, survey, check=can_import_survey_responses)
    context = {"survey": survey, "study": survey.study, "role": role_in(request.user, survey.study)}
    context["questions"] = exports.wide_columns(survey.current_version.definition if survey.current_version else {})
    if request.method == "GET":
        return render(request, "surveys/import.html", context)
    mapping_text = request.POST.get("mapping", "")
    context["mapping_text"] = mapping_text
    upload = request.FILES.get("file")
    errors = []
    mapping = None
    try:
        mapping = parse_mapping(line for line in mapping_text.splitlines() if line.strip())
    except ValueError as exc:
        errors.append({"line": "", "field": "mapping", "message": str(exc)})
    if upload is None:
        errors.append({"line": "", "field": "file", "message": "Choose the CSV file to import."})
    if not errors:
        try:
            report = survey_responses_import(survey=survey, source=upload, mapping=mapping or None)
        except ApplicationError as exc:
            errors = exc.details or [{"line": "", "field": "file", "message": exc.message}]
            context["message"] = exc.message
        else:
            messages.success(
                request,
                f"Imported {report['imported']} response{'s' if report['imported'] != 1 else ''} "
                f"({report['answers']} answers) into version {report['version']}.",
            )
            return redirect("surveys:results", survey=survey.slug)
    context["errors"] = errors
    return render(request, "surveys/import.html", context, status=400)
