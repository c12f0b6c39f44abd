"""Who may do what with the shared things of the site: reports, GitHub sources and their
tokens, fuzzer accounts, reproducers and runs, and creating studies. Every page, API view and
command asks these functions (or the DRF classes below), nowhere else.

Two layers (DESIGN.md): site permissions here, granted by staff through two Django groups, and
study roles (owner, annotator, viewer) for everything inside a study (labelling/permissions.py).

- **curator**: imports and re-imports reports, merges and splits crash groups, defines and syncs
  GitHub sources of their own, creates fuzzer accounts, attaches reproducers and queues runs,
  creates studies.
- **researcher**: creates studies (and is their owner), attaches reproducers and queues runs.
- **staff** (``is_staff``): everything, and every GitHub source.

Anyone logged in may read reports, crash groups, reproductions and runners. Staff manage the
groups in the admin (Users → Groups) or with ``manage.py site_group``.
"""

from __future__ import annotations

from django.db import transaction
from rest_framework.permissions import SAFE_METHODS, BasePermission

CURATE_REPORTS = "triage.curate_reports"
MANAGE_GITHUB_SOURCES = "triage.manage_github_sources"
MANAGE_FUZZER_ACCOUNTS = "triage.manage_fuzzer_accounts"
RUN_REPRODUCTIONS = "triage.run_reproductions"
CREATE_STUDIES = "labelling.add_study"

# The site groups: name -> (what it is for, its permissions). `manage.py site_group` keeps the
# database's groups equal to this.
SITE_GROUPS: dict[str, tuple[str, list[str]]] = {
    "curator": (
        "looks after the shared reports: imports, GitHub sources, fuzzer accounts, crash groups",
        [CURATE_REPORTS, MANAGE_GITHUB_SOURCES, MANAGE_FUZZER_ACCOUNTS, RUN_REPRODUCTIONS, CREATE_STUDIES],
    ),
    "researcher": ("creates and runs studies, reproduces reports", [CREATE_STUDIES, RUN_REPRODUCTIONS]),
}


def has_site_permission(user, permission: str) -> bool:
    """Staff have every site permission; others through their groups (Django caches them per user)."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or user.has_perm(permission)


def can_view_reports(user) -> bool:
    """Read reports, crash groups, reproductions, runners and the Reports overview: anyone logged in."""
    return bool(user and user.is_authenticated and user.is_active)


def can_curate_reports(user) -> bool:
    """Import or re-import reports (files, API), merge and split crash groups."""
    return has_site_permission(user, CURATE_REPORTS)


def can_manage_github_sources(user) -> bool:
    """Define GitHub sources (and see, change and sync one's own)."""
    return has_site_permission(user, MANAGE_GITHUB_SOURCES)


def can_manage_github_source(user, source) -> bool:
    """Change, sync or delete this source: its owner (still allowed to manage sources) and staff."""
    if not can_manage_github_sources(user):
        return False
    return user.is_staff or (source.owner_id is not None and source.owner_id == user.pk)


def can_manage_fuzzer_accounts(user) -> bool:
    return has_site_permission(user, MANAGE_FUZZER_ACCOUNTS)


def can_run_reproductions(user) -> bool:
    """Attach reproducers to any report and queue reproduction runs and bisections."""
    return has_site_permission(user, RUN_REPRODUCTIONS)


def can_create_studies(user) -> bool:
    return has_site_permission(user, CREATE_STUDIES)


# -- DRF ---------------------------------------------------------------------------------------


class CanCurateReports(BasePermission):
    message = "Importing reports needs the curator role; ask a staff member to add you to the curator group."

    def has_permission(self, request, view):
        return can_curate_reports(request.user)


class CanManageGitHubSources(BasePermission):
    message = "GitHub sources need the curator role; ask a staff member to add you to the curator group."

    def has_permission(self, request, view):
        return can_manage_github_sources(request.user)


class CanRunReproductionsOrReadOnly(BasePermission):
    message = (
        "Attaching reproducers and queueing runs needs the researcher or curator role; "
        "ask a staff member to add you to one of those groups."
    )

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or can_run_reproductions(request.user)


class CanCreateStudiesOrReadOnly(BasePermission):
    message = "Creating studies needs the researcher role; ask a staff member to add you to the researcher group."

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or can_create_studies(request.user)


# -- the groups (staff's tools) ----------------------------------------------------------------


@transaction.atomic
def site_groups_ensure() -> dict:
    """Create the site groups, and give each exactly its permissions. Returns name -> Group."""
    from django.contrib.auth.models import Group, Permission

    groups = {}
    for name, (_, permissions) in SITE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for permission in permissions:
            app_label, codename = permission.split(".")
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
        groups[name] = group
    return groups


@transaction.atomic
def site_group_membership_set(*, user, group: str, member: bool) -> None:
    """Add ``user`` to, or remove them from, one of the site groups."""
    from config.errors import ApplicationError

    if group not in SITE_GROUPS:
        raise ApplicationError(f"No site group {group!r}: use one of {', '.join(SITE_GROUPS)}.")
    target = site_groups_ensure()[group]
    if member:
        user.groups.add(target)
    else:
        user.groups.remove(target)
