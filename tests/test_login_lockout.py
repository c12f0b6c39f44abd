"""Login throttling (django-axes, config/lockout.py, config/tokens.py): after the limit of wrong
passwords a username is locked for the address on every login door, even with the right
password, the response says when to retry, and staff can lift the lock."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple"
LIMIT = settings.AXES_FAILURE_LIMIT


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True)


def html_login(client, password, ip="10.0.0.1", url=None):
    url = url or reverse("login")
    return client.post(url, {"username": "alice", "password": password}, REMOTE_ADDR=ip)


def token_login(password, ip="10.0.0.1"):
    return APIClient().post(
        reverse("api-token"), {"username": "alice", "password": password}, REMOTE_ADDR=ip, format="json"
    )


def logged_in(client):
    return "_auth_user_id" in client.session


def test_the_limit_is_a_setting_of_a_few_tries():
    assert 3 <= LIMIT <= 10 and settings.AXES_COOLOFF_TIME.total_seconds() >= 60


def test_login_page_locks_after_the_limit_and_refuses_the_right_password(client, alice):
    for _ in range(LIMIT - 1):
        assert html_login(client, "wrong").status_code == 200  # the form again, with its error
    assert html_login(client, "wrong").status_code == 429  # the last try allowed locks
    response = html_login(client, PASSWORD)
    assert response.status_code == 429
    assert not logged_in(client)
    body = response.content.decode()
    assert "Too many failed logins" in body and "Try again in 15 minutes" in body and "UTC" in body
    assert int(response["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())


def test_the_api_token_endpoint_locks_with_a_json_429_and_retry_after(alice):
    for _ in range(LIMIT - 1):
        assert token_login("wrong").status_code == 400
    assert token_login("wrong").status_code == 429
    response = token_login(PASSWORD)
    assert response.status_code == 429
    assert "token" not in response.json()
    assert response.json()["message"].startswith("Too many failed logins")
    assert response.json()["details"]["retry_after_seconds"] == int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert response["Retry-After"]


def test_the_doors_share_one_count(client, alice):
    """Wrong passwords on the API count for the login page and the admin, and the other way round."""
    for _ in range(LIMIT):
        token_login("wrong")
    assert html_login(client, PASSWORD).status_code == 429
    assert html_login(client, PASSWORD, url=reverse("admin:login")).status_code == 429
    assert not logged_in(client)


def test_the_lock_is_per_username_and_address(client, alice):
    for _ in range(LIMIT):
        token_login("wrong", ip="10.0.0.66")
    assert token_login(PASSWORD, ip="10.0.0.66").status_code == 429
    assert token_login(PASSWORD, ip="10.0.0.1").status_code == 200  # someone else cannot lock alice out
    assert html_login(client, PASSWORD, ip="10.0.0.1").status_code == 302 and logged_in(client)


def test_a_success_before_the_limit_starts_the_count_again(alice):
    for _ in range(LIMIT - 1):
        token_login("wrong")
    assert token_login(PASSWORD).status_code == 200
    for _ in range(LIMIT - 1):
        token_login("wrong")
    assert token_login(PASSWORD).status_code == 200


def test_staff_lift_the_lock_with_the_command(client, alice):
    for _ in range(LIMIT):
        html_login(client, "wrong")
    assert html_login(client, PASSWORD).status_code == 429
    call_command("axes_reset_username", "alice", verbosity=0)
    assert html_login(client, PASSWORD).status_code == 302 and logged_in(client)


def test_staff_see_and_delete_lockouts_in_the_admin(client, alice):
    for _ in range(LIMIT):
        token_login("wrong")
    admin = get_user_model().objects.create_superuser("root", password="x")
    client.force_login(admin)
    page = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert page.status_code == 200 and "alice" in page.content.decode()
