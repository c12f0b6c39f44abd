"""GitHub sources cannot be used to steal tokens or reach other hosts (issue 10, point 2): sources
belong to whoever defined them, base_url comes from an allow-list, a change of where a source points
drops its token, the server's GITHUB_TOKEN goes only to api.github.com, tokens are encrypted at rest."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.conftest import site_user
from tests.fakes.github_server import GitHubServer
from triage.github import services
from triage.models import GitHubSource, SyncRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def listener():
    """A GitHub-compatible server that an attacker would run: it records every request's headers."""
    server = GitHubServer().start()
    server.add_repo("pytorch/pytorch", issues=1, comments=0)
    yield server
    server.stop()


@pytest.fixture
def two_curators(db):
    return site_user("carol", "curator"), site_user("mallet", "curator")


def _authorizations(server) -> list[str]:
    return [h.get("Authorization", "") for h in server.request_headers]


def test_another_curator_cannot_see_change_or_sync_a_source(api_client, two_curators, queued):
    carol, mallet = two_curators
    source = services.github_source_create(created_by=carol, repository="pytorch/pytorch", token="ghp_carols")
    api_client.force_authenticate(mallet)
    assert api_client.get("/api/github/sources/").json()["results"] == []
    url = f"/api/github/sources/{source.pk}/"
    assert api_client.get(url).status_code == 404
    assert api_client.patch(url, {"base_url": "https://api.github.com"}, format="json").status_code == 404
    assert api_client.post(f"{url}sync/").status_code == 404
    assert api_client.delete(url).status_code == 404
    assert not SyncRun.objects.exists() and GitHubSource.objects.get().token == "ghp_carols"
    run = services.sync_run_start(source=source, created_by=carol, queue=False)
    assert api_client.get(f"/api/github/runs/{run.pk}/").status_code == 404
    assert api_client.get("/api/github/runs/").json()["results"] == []


def test_pages_hide_other_curators_sources(client, two_curators, queued):
    carol, mallet = two_curators
    source = services.github_source_create(created_by=carol, repository="pytorch/pytorch")
    client.force_login(mallet)
    assert "pytorch/pytorch" not in client.get("/reports/github/").content.decode()
    assert client.get(f"/reports/github/{source.pk}/").status_code == 404
    assert client.post(f"/reports/github/{source.pk}/sync/").status_code == 404


def test_staff_see_and_manage_every_source(api_client, two_curators, queued):
    from tests.factories import UserFactory

    source = services.github_source_create(created_by=two_curators[0], repository="pytorch/pytorch")
    api_client.force_authenticate(UserFactory(is_staff=True))
    assert api_client.get(f"/api/github/sources/{source.pk}/").json()["owner"] == "carol"


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:9", "http://169.254.169.254/latest", "file:///etc/passwd"])
def test_a_base_url_outside_the_allow_list_is_refused(api_client, two_curators, queued, base_url):
    carol, _ = two_curators
    api_client.force_authenticate(carol)
    created = api_client.post(
        "/api/github/sources/", {"repository": "pytorch/pytorch", "base_url": base_url}, format="json"
    )
    assert created.status_code == 400
    source = services.github_source_create(created_by=carol, repository="pytorch/pytorch", token="ghp_carols")
    patched = api_client.patch(f"/api/github/sources/{source.pk}/", {"base_url": base_url}, format="json")
    assert patched.status_code == 400
    if base_url.startswith("http"):  # a well-formed URL: the allow-list explains itself
        assert "BUGSIFT_GITHUB_API_URLS" in str(patched.json())
    assert GitHubSource.objects.get().base_url == ""


def test_pointing_a_source_elsewhere_drops_its_token(settings, two_curators, queued):
    settings.BUGSIFT_GITHUB_API_URLS = ["https://api.github.com", "https://github.example.com/api/v3"]
    carol, _ = two_curators
    source = services.github_source_create(created_by=carol, repository="pytorch/pytorch", token="ghp_carols")
    services.github_source_update(source=source, base_url="https://github.example.com/api/v3/")
    source.refresh_from_db()
    assert source.base_url == "https://github.example.com/api/v3" and source.token == ""
    services.github_source_update(source=source, token="ghe_token")
    services.github_source_update(source=source, repository="keras-team/keras")
    source.refresh_from_db()
    assert source.token == ""
    services.github_source_update(source=source, repository="pytorch/pytorch", token="ghp_new")  # given with it: kept
    source.refresh_from_db()
    assert source.token == "ghp_new"
    services.github_source_update(source=source, state="all")  # not where it points: kept
    source.refresh_from_db()
    assert source.token == "ghp_new"


def test_the_servers_token_never_goes_to_an_enterprise_url(settings, monkeypatch, listener, two_curators):
    """A source without a token on an (allowed) non-default URL is given no token; github.com gets the server's."""
    settings.BUGSIFT_GITHUB_API_URLS = ["https://api.github.com", listener.url]
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_server_secret")
    enterprise = services.github_source_create(
        created_by=two_curators[0], repository="pytorch/pytorch", base_url=listener.url
    )
    public = services.github_source_create(created_by=two_curators[0], repository="keras-team/keras")
    assert services._token_for(enterprise, None) == ""
    assert services._token_for(public, None) == "ghp_server_secret"


def test_a_url_removed_from_the_allow_list_is_no_longer_contacted(settings, listener, two_curators):
    settings.BUGSIFT_GITHUB_API_URLS = ["https://api.github.com", listener.url]
    source = services.github_source_create(
        created_by=two_curators[0], repository="pytorch/pytorch", base_url=listener.url, token="ghe_x"
    )
    settings.BUGSIFT_GITHUB_API_URLS = ["https://api.github.com"]
    run = services.sync_run_start(source=source, created_by=None, queue=False)
    run = services.sync_run_execute(run_id=run.pk)
    assert run.status == SyncRun.Status.FAILED and "BUGSIFT_GITHUB_API_URLS" in run.message
    assert listener.request_headers == []


def test_tokens_are_encrypted_at_rest(two_curators, queued):
    source = services.github_source_create(created_by=two_curators[0], repository="pytorch/pytorch", token="ghp_plain")
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM triage_githubsource WHERE id = %s", [source.pk])
        (stored,) = cursor.fetchone()
    assert "ghp_plain" not in stored and stored.startswith("gAAAAA")
    assert GitHubSource.objects.get(pk=source.pk).token == "ghp_plain"


def test_a_token_that_cannot_be_decrypted_is_not_sent(settings, listener, two_curators):
    """With the key it was saved under gone, the ciphertext reads back as itself: refused, not sent."""
    settings.BUGSIFT_GITHUB_API_URLS = ["https://api.github.com", listener.url]
    source = services.github_source_create(
        created_by=two_curators[0], repository="pytorch/pytorch", base_url=listener.url, token="ghe_x"
    )
    with connection.cursor() as cursor:  # as if encrypted under another key
        cursor.execute("UPDATE triage_githubsource SET token = %s WHERE id = %s", ["gAAAAABnot-ours", source.pk])
    run = services.sync_run_start(source=source, created_by=None, queue=False)
    run = services.sync_run_execute(run_id=run.pk)
    assert run.status == SyncRun.Status.FAILED and "BUGSIFT_FIELD_ENCRYPTION_KEY" in run.message
    assert listener.request_headers == []
