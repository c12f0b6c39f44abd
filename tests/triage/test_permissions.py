"""Site permissions (triage/permissions.py): owning a study grants nothing outside it (issue 10,
point 1); the curator and researcher groups; `manage.py site_group`."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from tests.factories import ReportFactory, UserFactory
from triage import permissions
from triage.models import Report, Reproducer

pytestmark = pytest.mark.django_db


def test_the_escalation_path_is_closed(api_client, small_study, media):
    """The reported attack: an annotator creates a study, then uses "owner of a study" to re-import a
    report of another team's blind study, list GitHub sources and queue reproductions."""
    report = ReportFactory(title="Original title")
    api_client.force_authenticate(small_study["ann1"])
    assert api_client.post("/api/studies/", {"slug": "mine", "name": "Mine"}, format="json").status_code == 403
    # even as the owner of a study (small_study's owner), none of the site-wide writes are open
    api_client.force_authenticate(small_study["owner"])
    assert api_client.get("/api/github/sources/").status_code == 403
    upload = StringIO(json.dumps({"source_id": report.source_id, "framework": "pytorch", "title": "Changed"}) + "\n")
    upload.name = "r.jsonl"
    assert api_client.post("/api/reports/import/", {"file": upload}).status_code == 403
    attach = api_client.post(f"/api/reports/{report.pk}/reproducers/", {"script": "x = 1"}, format="json")
    assert attach.status_code == 403
    assert Report.objects.get(pk=report.pk).title == "Original title" and not Reproducer.objects.exists()


@pytest.mark.parametrize(
    ("who", "curate", "sources", "runs", "studies"),
    [
        ("curator", True, True, True, True),
        ("researcher", False, False, True, True),
        ("owner", False, False, False, False),
        ("ann1", False, False, False, False),
        ("viewer", False, False, False, False),
        ("outsider", False, False, False, False),
    ],
)
def test_what_each_role_may_do_on_the_site(small_study, who, curate, sources, runs, studies):
    user = small_study[who]
    assert permissions.can_curate_reports(user) is curate
    assert permissions.can_manage_github_sources(user) is sources
    assert permissions.can_manage_fuzzer_accounts(user) is curate
    assert permissions.can_run_reproductions(user) is runs
    assert permissions.can_create_studies(user) is studies


def test_staff_may_do_everything_and_anonymous_or_inactive_nothing(small_study):
    from django.contrib.auth.models import AnonymousUser

    staff = UserFactory(is_staff=True)
    assert all(check(staff) for check in _checks())
    assert not any(check(AnonymousUser()) for check in _checks())
    curator = small_study["curator"]
    curator.is_active = False
    assert not any(check(curator) for check in _checks())


def _checks():
    return [
        permissions.can_curate_reports,
        permissions.can_manage_github_sources,
        permissions.can_manage_fuzzer_accounts,
        permissions.can_run_reproductions,
        permissions.can_create_studies,
    ]


def test_the_migration_made_the_groups_with_their_permissions():
    for name, (_, perms) in permissions.SITE_GROUPS.items():
        group = Group.objects.get(name=name)
        have = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert have == set(perms)


def test_site_group_command_adds_removes_and_lists():
    user = UserFactory(username="dana")
    out = StringIO()
    call_command("site_group", "add", "dana", "curator", stdout=out)
    assert "dana is now in the curator group" in out.getvalue()
    user = type(user).objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance
    assert permissions.can_curate_reports(user)
    out = StringIO()
    call_command("site_group", "list", stdout=out)
    assert "curator:" in out.getvalue() and "dana" in out.getvalue()
    call_command("site_group", "remove", "dana", "curator", stdout=StringIO())
    assert not permissions.can_curate_reports(type(user).objects.get(pk=user.pk))


def test_site_group_command_refuses_bad_input_clearly():
    with pytest.raises(CommandError, match="No account named 'ghost'"):
        call_command("site_group", "add", "ghost", "curator", stdout=StringIO())
    with pytest.raises(CommandError, match="Usage"):
        call_command("site_group", "add", stdout=StringIO())
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("site_group", "add", "dana", "admin", stdout=StringIO())
