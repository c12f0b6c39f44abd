"""Reads of releases (access is the caller's: ``labelling.permissions.can_read_releases``)."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404

from labelling.models import Study
from labelling.releases.models import Release, ReleaseFile


def releases_of(*, study: Study):
    """The study's releases, newest version first, with their files (two queries)."""
    files = Prefetch("files", queryset=ReleaseFile.objects.order_by("path"))
    return Release.objects.filter(study=study).select_related("created_by").prefetch_related(files)


def release_get(*, study: Study, version: str) -> Release:
    release = releases_of(study=study).filter(version=version.removeprefix("v")).first()
    if release is None:
        raise Http404(f"Study '{study.slug}' has no release {version}.")
    return release
