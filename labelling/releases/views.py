"""The study's Releases page (list, download; the owner creates) and the page to load a package."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from config.errors import ApplicationError
from labelling.permissions import can_create_releases, can_read_releases, role_in, study_for
from labelling.releases.api import release_file_response
from labelling.releases.card import DEFAULT_LICENCE, LICENCES
from labelling.releases.load import release_load
from labelling.releases.selectors import release_get, releases_of
from labelling.releases.services import ReleaseOptions, latest_release, release_create
from triage.permissions import can_create_studies

TRUE = {"on", "true", "1", "yes"}


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def releases(request, slug):
    study = study_for(request.user, slug, check=can_read_releases)
    may_create = can_create_releases(request.user, study)
    form = {"version": "", "licence": DEFAULT_LICENCE, "include_bodies": False, "name_annotators": False}
    error = None
    if request.method == "POST":
        if not may_create:
            raise PermissionDenied("Only the study's owners create releases.")
        form = {
            "version": request.POST.get("version", "").strip(),
            "licence": request.POST.get("licence", DEFAULT_LICENCE),
            "include_bodies": request.POST.get("include_bodies", "") in TRUE,
            "name_annotators": request.POST.get("name_annotators", "") in TRUE,
        }
        try:
            release = release_create(
                study=study,
                version=form["version"],
                created_by=request.user,
                options=ReleaseOptions(
                    include_bodies=form["include_bodies"],
                    name_annotators=form["name_annotators"],
                    licence=form["licence"],
                ),
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, f"Release {release.version} made: {release.filename}, sha256 {release.sha256}.")
            return redirect("labelling:releases", slug=study.slug)
    latest = latest_release(study)
    context = {
        "study": study,
        "role": role_in(request.user, study),
        "releases": releases_of(study=study),
        "may_create": may_create,
        "form": form,
        "error": error,
        "licences": LICENCES,
        "latest": latest,
    }
    return render(request, "labelling/releases.html", context, status=400 if error else 200)


@login_required
@require_safe
def release_download(request, slug, version):
    study = study_for(request.user, slug, check=can_read_releases)
    return release_file_response(release_get(study=study, version=version))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def release_upload(request):
    if not can_create_studies(request.user):
        raise PermissionDenied("Loading a release creates a study: you need the right to create studies.")
    problems, slug, error = [], "", None
    if request.method == "POST":
        slug = request.POST.get("study", "").strip()
        upload = request.FILES.get("file")
        if upload is None:
            error = "Choose the release .zip to load."
        else:
            try:
                result = release_load(source=upload, owner=request.user, slug=slug or None)
            except ApplicationError as exc:
                error = exc.message
                problems = [d["message"] for d in exc.details if isinstance(d, dict) and "message" in d]
            else:
                r = result.as_dict()
                messages.success(
                    request,
                    f"Loaded {r['items']} items, {r['labels']} labels, {r['final_labels']} final labels and "
                    f"{r['adjudications']} adjudications into study '{r['study']}'."
                    + "".join(
                        f" Survey '{s['name']}' loaded as '{s['slug']}': {s['responses']} responses."
                        for s in r["surveys"]
                    ),
                )
                return redirect("labelling:study-detail", slug=result.study.slug)
    context = {"error": error, "problems": problems, "slug": slug}
    return render(request, "labelling/release_upload.html", context, status=400 if error else 200)
