"""Web pages for GitHub ingestion: sources (list, define, change), "Sync now", and a run's live progress.

Who may define sources: curators (``can_manage_github_sources``); each sees, changes and syncs
its own sources, staff every source (``github_sources_visible_to``); others' answer 404.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import ApplicationError
from triage.github import selectors, services
from triage.models import GitHubSource
from triage.permissions import CanManageGitHubSources, can_manage_github_sources


def _check(user) -> None:
    if not can_manage_github_sources(user):
        raise PermissionDenied(CanManageGitHubSources.message)


class GitHubSourceForm(forms.Form):
    repository = forms.CharField(
        max_length=200,
        help_text="owner/name, e.g. tensorflow/tensorflow",
        widget=forms.TextInput(attrs={"autofocus": True}),
    )
    name = forms.CharField(max_length=200, required=False, help_text="Default: the repository.")
    state = forms.ChoiceField(choices=GitHubSource.State.choices, initial=GitHubSource.State.CLOSED)
    labels = forms.CharField(required=False, help_text="Comma-separated; issues must carry all of them.")
    created_from = forms.DateTimeField(required=False, help_text="YYYY-MM-DD")
    created_to = forms.DateTimeField(required=False, help_text="YYYY-MM-DD")
    closed_from = forms.DateTimeField(required=False, help_text="YYYY-MM-DD")
    closed_to = forms.DateTimeField(required=False, help_text="YYYY-MM-DD")
    query = forms.CharField(
        max_length=500, required=False, help_text="Optional GitHub search syntax, e.g. conv2d in:title"
    )
    include_pull_requests = forms.BooleanField(required=False)
    with_comments = forms.BooleanField(required=False, initial=True)
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="API base URL",
        help_text="For GitHub Enterprise; empty for github.com.",
    )
    schedule_minutes = forms.IntegerField(required=False, min_value=5, help_text="Sync every N minutes (empty: never).")
    token = forms.CharField(
        required=False,
        max_length=255,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored on the server, never shown back. Empty keeps the current one (or uses GITHUB_TOKEN).",
    )
    clear_token = forms.BooleanField(required=False, label="Remove the stored token")

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data["labels"] = [x.strip() for x in data["labels"].split(",") if x.strip()]
        data.pop("clear_token")
        data.pop("token")
        return data

    def token_value(self) -> str | None:
        if self.cleaned_data.get("clear_token"):
            return ""
        return self.cleaned_data.get("token") or None

    @classmethod
    def for_source(cls, source: GitHubSource, data=None):
        initial = {name: getattr(source, name) for name in services.SOURCE_FIELDS}
        initial["labels"] = ", ".join(source.labels)
        return cls(data, initial=initial)


def _save(form: GitHubSourceForm, *, user, source: GitHubSource | None):
    try:
        if source is None:
            return services.github_source_create(
                created_by=user, token=form.token_value() or "", **form.service_fields()
            )
        return services.github_source_update(source=source, token=form.token_value(), **form.service_fields())
    except ValidationError as exc:
        for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
            form.add_error(field if field in form.fields else None, errors)
    except ApplicationError as exc:
        form.add_error(None, exc.message)
    return None


@login_required
@require_http_methods(["GET", "POST"])
def github_source_list(request):
    _check(request.user)
    form = GitHubSourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        source = _save(form, user=request.user, source=None)
        if source is not None:
            messages.success(request, f"Source {source.name} is defined. Sync it now or on its schedule.")
            return redirect("triage:github-source", pk=source.pk)
    context = {"sources": selectors.github_sources_visible_to(request.user), "form": form}
    return render(request, "triage/github/github_sources.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def github_source_detail(request, pk: int):
    _check(request.user)
    source = get_object_or_404(selectors.github_sources_visible_to(request.user), pk=pk)
    form = GitHubSourceForm.for_source(source, request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _save(form, user=request.user, source=source) is not None:
            messages.success(request, "The source is saved.")
            return redirect("triage:github-source", pk=source.pk)
    context = {"source": source, "form": form, "runs": selectors.github_source_runs(source=source)[:20]}
    return render(request, "triage/github/github_source.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def github_source_sync(request, pk: int):
    _check(request.user)
    source = get_object_or_404(selectors.github_sources_visible_to(request.user), pk=pk)
    run = services.sync_run_start(source=source, created_by=request.user)
    return redirect("triage:github-run", pk=run.pk)


@login_required
@require_GET
def github_run_detail(request, pk: int):
    _check(request.user)
    run = get_object_or_404(selectors.sync_runs_visible_to(request.user), pk=pk)
    return render(request, "triage/github/github_run.html", {"run": run})


@login_required
@require_GET
def github_run_progress(request, pk: int):
    """The partial that the run page polls with htmx until the run is finished."""
    _check(request.user)
    run = get_object_or_404(selectors.sync_runs_visible_to(request.user), pk=pk)
    return render(request, "triage/github/_github_run_progress.html", {"run": run})


@login_required
@require_POST
def github_run_resume(request, pk: int):
    _check(request.user)
    run = get_object_or_404(selectors.sync_runs_visible_to(request.user), pk=pk)
    try:
        services.sync_run_resume(run=run)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("triage:github-run", pk=run.pk)
