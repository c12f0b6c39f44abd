"""The GitHub sources and sync runs API, for every role."""

import pytest

from triage.github import services
from triage.models import GitHubSource, SyncRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    from triage.github import tasks

    calls: list[int] = []
    monkeypatch.setattr(tasks.github_sync_run, "delay", calls.append)
    return calls


@pytest.fixture
def source(queued, small_study):
    """A source of the curator's (a source belongs to whoever defined it)."""
    return services.github_source_create(
        created_by=small_study["curator"], repository="pytorch/pytorch", token="ghp_secret"
    )


def as_user(api_client, user):
    if user is not None:
        api_client.force_authenticate(user)
    return api_client


@pytest.mark.parametrize(
    ("who", "code"), [("curator", 200), ("owner", 403), ("ann1", 403), ("viewer", 403), ("outsider", 403)]
)
def test_who_may_list_sources(api_client, small_study, source, who, code):
    response = as_user(api_client, small_study[who]).get("/api/github/sources/")
    assert response.status_code == code
    if code == 200:
        (row,) = response.json()["results"]
        assert row["repository"] == "pytorch/pytorch" and row["token_set"] is True
        assert "ghp_secret" not in response.content.decode()


def test_anonymous_gets_401(api_client, source):
    assert api_client.get("/api/github/sources/").status_code == 401
    assert api_client.post(f"/api/github/sources/{source.pk}/sync/").status_code == 401


def test_an_owner_defines_a_source_with_a_write_only_token(api_client, small_study, queued):
    client = as_user(api_client, small_study["curator"])
    response = client.post(
        "/api/github/sources/",
        {"repository": "keras-team/keras", "state": "closed", "labels": ["type:bug"], "token": "ghp_x"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert "token" not in response.json() and response.json()["token_set"] is True
    source = GitHubSource.objects.get(repository="keras-team/keras")
    assert source.token == "ghp_x" and source.created_by == small_study["curator"]

    response = client.patch(f"/api/github/sources/{source.pk}/", {"state": "all"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "all"
    source.refresh_from_db()
    assert source.token == "ghp_x"  # kept when not sent
    client.patch(f"/api/github/sources/{source.pk}/", {"token": ""}, format="json")
    source.refresh_from_db()
    assert source.token == ""


def test_a_bad_repository_is_a_400_that_says_how_to_fix_it(api_client, small_study):
    response = as_user(api_client, small_study["curator"]).post(
        "/api/github/sources/", {"repository": "just-a-name"}, format="json"
    )
    assert response.status_code == 400
    assert "owner/name" in str(response.json()["details"]["repository"])


@pytest.mark.parametrize(
    ("who", "code"), [("curator", 202), ("owner", 403), ("ann1", 403), ("viewer", 403), ("outsider", 403)]
)
def test_who_may_sync(api_client, small_study, source, queued, who, code, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(api_client, small_study[who]).post(f"/api/github/sources/{source.pk}/sync/")
    assert response.status_code == code
    if code == 202:
        run = SyncRun.objects.get()
        assert response.json()["id"] == run.pk and response["Location"].endswith(f"/api/github/runs/{run.pk}/")
        assert queued == [run.pk]
    else:
        assert not SyncRun.objects.exists()


def test_runs_list_and_detail_and_delete(api_client, small_study, source, queued):
    client = as_user(api_client, small_study["curator"])
    run = services.sync_run_start(source=source, created_by=small_study["curator"])
    listed = client.get(f"/api/github/runs/?source={source.pk}").json()["results"]
    assert [r["id"] for r in listed] == [run.pk]
    assert client.get(f"/api/github/runs/{run.pk}/").json()["status"] == "queued"
    assert as_user(api_client, small_study["viewer"]).get(f"/api/github/runs/{run.pk}/").status_code == 403
    client = as_user(api_client, small_study["curator"])
    assert client.delete(f"/api/github/sources/{source.pk}/").status_code == 204
    assert not GitHubSource.objects.exists()
    assert client.get(f"/api/github/sources/{source.pk}/").status_code == 404
