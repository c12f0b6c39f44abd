"""Web pages for reproduction: attach a reproducer to a report, start a check or a bisection, follow a
reproduction's runs (htmx polling while it runs), one run in full, and the runners page.

Everything is read through ``triage.reproduction.selectors`` and written through
``triage.reproduction.services``; runs themselves happen on runners, never in a web request.
"""

from __future__ import annotations

import math

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import ApplicationError
from config.params import id_param
from triage.models import CodeBlock, Device, Report, Reproducer, Reproduction, ReproductionRun
from triage.permissions import CanRunReproductionsOrReadOnly, can_run_reproductions
from triage.reproduction import selectors
from triage.reproduction.services import (
    MAX_REPEAT,
    MAX_SCRIPT_BYTES,
    bisection_start,
    report_expectation,
    reproduction_start,
    run_rejudge,
)
from triage.reproduction.services import reproducer_create as reproducer_create_service

ORACLE_HELP = {
    Reproducer.Oracle.CRASH: "the run fails with the expected failure (exception type and message, exit code or "
    "signal; for a crash report, the report's signature). Another failure is 'crashed differently'.",
    Reproducer.Oracle.ASSERTION: "the script checks the expected behaviour and raises AssertionError (or exits with "
    "the declared exit code) when the bug is present; another exception means it crashed before its check.",
    Reproducer.Oracle.DIFFERENTIAL: "the script saves results with bugsift_capture.save(name, value); two "
    "configurations are run and their results compared with rtol/atol.",
    Reproducer.Oracle.HANG: "the run exceeds its time limit.",
}


def _require_owner(user) -> None:
    if not can_run_reproductions(user):
        raise PermissionDenied(CanRunReproductionsOrReadOnly.message)


# --------------------------------------------------------------------------- the report page's section


@login_required
@require_GET
def report_reproduction_section(request, pk: int):
    """The "Reproduction" section of a report page. The report page loads it with htmx (and links to it
    without JavaScript), so the report page itself costs no extra queries and the section can refresh
    on its own while runs are going."""
    report = get_object_or_404(Report.objects.select_related("crash_group"), pk=pk)
    reproducers = selectors.reproducers_for(report)
    context = {
        "report": report,
        "section": True,
        "reproducers": reproducers,
        "python_blocks": [] if reproducers else selectors.python_code_blocks(report),
        "can_run": can_run_reproductions(request.user),
        "running": any(r.status != Reproduction.Status.DONE for rep in reproducers for r in rep.reproductions.all()),
        "max_repeat": MAX_REPEAT,
        "oracle_help": ORACLE_HELP,
    }
    return render(request, "triage/reproduction/_reproduction_section.html", context)


# --------------------------------------------------------------------------- attach a reproducer


class ReproducerForm(forms.Form):
    """The attach form. It only parses types; the service decides what is valid and names the field."""

    code_block = forms.ModelChoiceField(
        queryset=CodeBlock.objects.none(),
        required=False,
        empty_label=None,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Pick one of this report's code blocks."},
    )
    script = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"})
    )
    upload = forms.FileField(required=False, label="Or upload a .py file", help_text="At most 1 MB, UTF-8.")
    title = forms.CharField(required=False, max_length=200)
    requirements = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="Python packages with versions, one per line or separated by spaces, e.g. torch==2.13.0 numpy<2.",
    )
    oracle = forms.ChoiceField(
        choices=Reproducer.Oracle.choices, initial=Reproducer.Oracle.CRASH, widget=forms.RadioSelect
    )
    device = forms.ChoiceField(choices=Device.choices, initial=Device.CPU)
    timeout_seconds = forms.IntegerField(
        initial=300,
        label="Time limit (seconds)",
        error_messages={"invalid": "Give the time limit in whole seconds, e.g. 300."},
    )
    memory_mb = forms.IntegerField(
        initial=4096,
        label="Memory limit (MB)",
        error_messages={"invalid": "Give the memory limit in whole MB, e.g. 4096."},
    )
    compare_device = forms.ChoiceField(
        choices=[("", "Same as side A"), *Device.choices], required=False, label="Side B device"
    )
    compare_requirements = forms.CharField(
        required=False,
        label="Side B requirements",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="Empty: the same requirements as side A.",
    )
    expect = forms.CharField(
        required=False,
        max_length=500,
        label="Expected failure",
        help_text="The failure that shows the bug: an exception type with an optional message after a colon "
        "(IndexError: index out of range), an exit code (exit 3) or a signal (SIGSEGV). Crash and assertion "
        "oracles only; an assertion expects AssertionError when this is empty.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "size": 60}),
    )
    rtol = forms.FloatField(initial=1e-5, error_messages={"invalid": "Give rtol as a number, e.g. 1e-5."})
    atol = forms.FloatField(initial=1e-8, error_messages={"invalid": "Give atol as a number, e.g. 1e-8."})

    def __init__(self, *args, report: Report, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code_block"].queryset = CodeBlock.objects.filter(report=report)

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if upload is None:
            return ""
        if not upload.name.lower().endswith(".py"):
            raise forms.ValidationError(f"{upload.name} is not a .py file; upload the Python script itself.")
        if upload.size > MAX_SCRIPT_BYTES:
            raise forms.ValidationError(
                f"{upload.name} is {upload.size:,} bytes; the limit is 1 MB. Keep only the reproduction."
            )
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                f"{upload.name} is not UTF-8 text; save it as UTF-8 and upload it again."
            ) from None

    def script_text(self) -> str:
        """An uploaded file wins over a pasted script; a picked code block is the service's fallback."""
        return self.cleaned_data.get("upload") or self.cleaned_data.get("script") or ""


def _add_service_errors(form: forms.Form, exc: ApplicationError) -> None:
    """Put each problem next to its field; what has no field goes above the form."""
    details = exc.details if isinstance(exc.details, dict) else {}
    placed = False
    for name, message in details.items():
        if name in form.fields:
            form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@login_required
@require_http_methods(["GET", "POST"])
def reproducer_new(request, pk: int):
    report = get_object_or_404(Report.objects.select_related("crash_group"), pk=pk)
    _require_owner(request.user)
    taken = report_expectation(report)
    if request.method == "POST":
        form = ReproducerForm(request.POST, request.FILES, report=report)
        if form.is_valid():
            data = form.cleaned_data
            try:
                reproducer = reproducer_create_service(
                    report=report,
                    script=form.script_text(),
                    code_block=data["code_block"],
                    title=data["title"],
                    requirements=data["requirements"],
                    oracle=data["oracle"],
                    device=data["device"],
                    timeout_seconds=data["timeout_seconds"],
                    memory_mb=data["memory_mb"],
                    compare_device=data["compare_device"],
                    compare_requirements=data["compare_requirements"],
                    rtol=data["rtol"],
                    atol=data["atol"],
                    expect=data["expect"],
                    created_by=request.user,
                )
            except ApplicationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, f"Reproducer “{reproducer}” attached. Run it to check that the bug shows.")
                return redirect(f"{report_url(report)}#reproducer-{reproducer.pk}")
    else:
        initial = {"script": selectors.crash_reproducer_prefill(report)}
        if not taken.signature and not taken.empty:
            initial["expect"] = taken.describe()
        picked = request.GET.get("code_block", "")
        if id_param(picked) and CodeBlock.objects.filter(pk=id_param(picked), report=report).exists():
            initial["code_block"] = id_param(picked)
        form = ReproducerForm(report=report, initial=initial)
    context = {
        "report": report,
        "form": form,
        "code_blocks": selectors.code_blocks_for_form(report),
        "taken": taken,
        "oracles": [(value, label.split(":")[0], ORACLE_HELP[value]) for value, label in Reproducer.Oracle.choices],
    }
    return render(request, "triage/reproduction/reproducer_form.html", context, status=400 if form.errors else 200)


def report_url(report: Report) -> str:
    return reverse("triage:report-detail", args=[report.pk])


# --------------------------------------------------------------------------- start a check or a bisection


def _reproducer_for_post(request, pk: int) -> Reproducer:
    _require_owner(request.user)
    return get_object_or_404(Reproducer.objects.select_related("report"), pk=pk)


@login_required
@require_POST
def reproducer_run(request, pk: int):
    reproducer = _reproducer_for_post(request, pk)
    try:
        reproduction = reproduction_start(
            reproducer=reproducer, repeat=request.POST.get("repeat", "1"), requested_by=request.user
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(f"{report_url(reproducer.report)}#reproducer-{reproducer.pk}")
    # No "queued" banner: the reproduction page shows the runs' state live.
    return redirect("triage:reproduction-detail", pk=reproduction.pk)


def split_versions(raw: str) -> list[str]:
    """Versions as typed: separated by commas, spaces or new lines, oldest first."""
    return [part for part in raw.replace(",", " ").split() if part]


@login_required
@require_POST
def reproducer_bisect(request, pk: int):
    reproducer = _reproducer_for_post(request, pk)
    try:
        reproduction = bisection_start(
            reproducer=reproducer,
            package=request.POST.get("package", ""),
            versions=split_versions(request.POST.get("versions", "")),
            requested_by=request.user,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(f"{report_url(reproducer.report)}#reproducer-{reproducer.pk}")
    return redirect("triage:reproduction-detail", pk=reproduction.pk)


# --------------------------------------------------------------------------- following a reproduction


def _reproduction_or_404(pk: int) -> Reproduction:
    try:
        return selectors.reproduction_detail(pk=pk)
    except Reproduction.DoesNotExist:
        raise Http404("No such reproduction.") from None


def _reproduction_context(reproduction: Reproduction) -> dict:
    runs = selectors.reproduction_runs(reproduction)
    return {
        "reproduction": reproduction,
        "reproducer": reproduction.reproducer,
        "report": reproduction.reproducer.report,
        "runs": [selectors.run_view(run) for run in runs],
        "timeline": selectors.bisect_timeline(reproduction, runs),
        "percent": _percent(reproduction, runs),
    }


def _percent(reproduction: Reproduction, runs: list[ReproductionRun]) -> int:
    if reproduction.status == Reproduction.Status.DONE:
        return 100
    if reproduction.kind == Reproduction.Kind.BISECT:  # the two ends, then a binary search between them
        versions = len(reproduction.versions or [])
        total = max(min(versions, 2 + math.ceil(math.log2(max(versions - 1, 1)))), 1)
        done = sum(1 for run in runs if run.status == ReproductionRun.Status.DONE)
        return min(99, round(100 * done / total))
    return min(99, round(100 * reproduction.finished_count / max(reproduction.repeat, 1)))


@login_required
@require_GET
def reproduction_detail(request, pk: int):
    context = _reproduction_context(_reproduction_or_404(pk))
    context["can_run"] = can_run_reproductions(request.user)
    return render(request, "triage/reproduction/reproduction_detail.html", context)


@login_required
@require_GET
def reproduction_progress(request, pk: int):
    """The partial the reproduction page polls with htmx until every run is done."""
    context = _reproduction_context(_reproduction_or_404(pk))
    return render(request, "triage/reproduction/_reproduction_progress.html", context)


@login_required
@require_GET
def run_detail(request, pk: int):
    try:
        run = selectors.run_detail(pk=pk)
    except ReproductionRun.DoesNotExist:
        raise Http404("No such run.") from None
    return _run_page(request, run)


class RejudgeForm(forms.Form):
    expect = forms.CharField(
        required=False,
        max_length=500,
        label="Corrected expectation",
        help_text="Empty: the reproducer's own. IndexError: index out of range, exit 3 or SIGSEGV.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "size": 50}),
    )
    signature = forms.CharField(required=False, max_length=64, label="Or a crash signature")


def _run_page(request, run: ReproductionRun, *, form: RejudgeForm | None = None, status: int = 200):
    can_run = can_run_reproductions(request.user)
    if form is None and can_run:
        form = RejudgeForm(
            initial={"expect": selectors.expectation_text(run.expectation or run.reproducer.expectation)}
        )
    context = {
        "view": selectors.run_view(run),
        "run": run,
        "reproduction": run.reproduction,
        "report": run.reproducer.report,
        "can_run": can_run,
        "rejudge_form": form,
        "history": selectors.verdict_history(run),
    }
    return render(request, "triage/reproduction/run_detail.html", context, status=status)


@login_required
@require_POST
def run_rejudge_view(request, pk: int):
    """Judge a stored run again (whoever may attach and run reproducers)."""
    _require_owner(request.user)
    try:
        run = selectors.run_detail(pk=pk)
    except ReproductionRun.DoesNotExist:
        raise Http404("No such run.") from None
    form = RejudgeForm(request.POST)
    if form.is_valid():
        try:
            run = run_rejudge(
                run=run, expect=form.cleaned_data["expect"], signature=form.cleaned_data["signature"], by=request.user
            )
        except ApplicationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, f"Judged again: {run.get_verdict_display().lower()}.")
            return redirect("triage:run-detail", pk=run.pk)
    return _run_page(request, selectors.run_detail(pk=pk), form=form, status=400)


# --------------------------------------------------------------------------- runners


@login_required
@require_GET
def runner_list(request):
    context = {"runners": selectors.runners_list(), "max_repeat": MAX_REPEAT}
    return render(request, "triage/reproduction/runner_list.html", context)
