"""Accounts (issue 17): staff manage users and the site groups in the admin; password change and
reset work, in the site's layout."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse

from tests.factories import UserFactory
from triage.permissions import site_groups_ensure

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-much-better-secret-7"


@pytest.fixture
def staff(db):
    return UserFactory(username="stan", is_staff=True)


def test_staff_without_model_permissions_see_users_groups_and_the_app_in_the_admin(client, staff):
    client.force_login(staff)
    index = client.get(reverse("admin:index")).content.decode()
    assert "have permission to view or edit anything" not in index
    for name in ("Users", "Groups", "Studies", "Reports", "Study invitations", "Access attempts"):
        assert name in index, name
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200


def test_staff_add_an_account_and_put_it_in_a_site_group(client, staff):
    curator = site_groups_ensure()["curator"]
    client.force_login(staff)
    response = client.post(
        reverse("admin:auth_user_add"),
        {"username": "newcomer", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = get_user_model().objects.get(username="newcomer")
    change = reverse("admin:auth_user_change", args=[user.pk])
    page = client.get(change).content.decode()
    assert 'name="is_superuser"' not in page  # only superusers make superusers
    response = client.post(
        change,
        {
            "username": "newcomer",
            "is_active": "on",
            "groups": [curator.pk],
            "is_superuser": "on",  # ignored: read-only for staff
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert list(user.groups.all()) == [curator] and not user.is_superuser


def test_staff_cannot_change_a_superuser_or_group_permissions(client, staff):
    root = get_user_model().objects.create_superuser("root", password="x")
    client.force_login(staff)
    assert client.post(reverse("admin:auth_user_change", args=[root.pk]), {"username": "r00t"}).status_code == 403
    group = Group.objects.create(name="helpers")
    page = client.get(reverse("admin:auth_group_change", args=[group.pk])).content.decode()
    assert 'name="permissions"' not in page


def test_non_staff_still_cannot_open_the_admin(client, small_study):
    client.force_login(small_study["owner"])
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_password_change(client, small_study):
    client.force_login(small_study["ann1"])
    page = client.get(reverse("password_change")).content.decode()
    assert 'class="topbar"' in page and "Change your password" in page
    weak = client.post(
        reverse("password_change"),
        {"old_password": "pw-for-tests", "new_password1": "12345678", "new_password2": "12345678"},
    )
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    response = client.post(
        reverse("password_change"),
        {"old_password": "pw-for-tests", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    small_study["ann1"].refresh_from_db()
    assert small_study["ann1"].check_password(NEW_PASSWORD)


def test_password_reset_by_email_link(client, small_study, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert "Forgot your password?" in client.get(reverse("login")).content.decode()
    response = client.post(reverse("password_reset"), {"email": "alice@example.org"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1 and mail.outbox[0].subject == "Bugsift: set a new password"
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert "Set a new password" in form.content.decode()
    response = client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_complete")
    small_study["ann1"].refresh_from_db()
    assert small_study["ann1"].check_password(NEW_PASSWORD)
    assert "This link does not work" in client.get(link, follow=True).content.decode()  # used once


def test_email_settings_console_in_development_smtp_from_the_environment():
    import os
    import subprocess
    import sys

    code = "from django.conf import settings as s; print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS)"
    base = {k: v for k, v in os.environ.items() if k not in ("EMAIL_URL", "DJANGO_DEBUG")}

    def run(**env):
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert run(DJANGO_DEBUG="1")[0] == "django.core.mail.backends.console.EmailBackend"
    smtp = run(DJANGO_DEBUG="0", EMAIL_URL="smtp+tls://bot:secret@smtp.example.org:587")
    assert smtp == ["django.core.mail.backends.smtp.EmailBackend", "smtp.example.org", "587", "True"]
