"""GitHub source pages, the run's progress partial and the GitHub section of the report page."""

import pytest
from django.urls import reverse

from tests.factories import StudyItemFactory
from tests.fakes.github_server import github_server_fixture
from triage.github import services
from triage.models import GitHubSource, Report, SyncRun

github_server = pytest.fixture(github_server_fixture, name="github_server")  # the fake GitHub API
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
        created_by=small_study["curator"], repository="pytorch/pytorch", token="ghp_very_secret"
    )


@pytest.mark.parametrize(
    ("who", "code"), [("curator", 200), ("owner", 403), ("ann1", 403), ("viewer", 403), ("outsider", 403)]
)
def test_who_may_see_the_source_pages(client, small_study, source, who, code):
    client.force_login(small_study[who])
    run = services.sync_run_start(source=source, created_by=None)
    for url in (
        reverse("triage:github-sources"),
        reverse("triage:github-source", args=[source.pk]),
        reverse("triage:github-run", args=[run.pk]),
        reverse("triage:github-run-progress", args=[run.pk]),
    ):
        assert client.get(url).status_code == code, url
    assert client.post(reverse("triage:github-source-sync", args=[source.pk])).status_code == (
        302 if code == 200 else 403
    )


def test_anonymous_is_sent_to_log_in(client, source):
    response = client.get(reverse("triage:github-sources"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_defining_a_source_and_the_token_is_never_rendered(client, small_study, queued):
    client.force_login(small_study["curator"])
    response = client.post(
        reverse("triage:github-sources"),
        {
            "repository": "keras-team/keras",
            "state": "closed",
            "labels": "type:bug, comp:keras",
            "token": "ghp_hidden",
            "with_comments": "on",
        },
    )
    source = GitHubSource.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("triage:github-source", args=[source.pk])
    assert source.labels == ["type:bug", "comp:keras"] and source.token == "ghp_hidden"
    page = client.get(response["Location"]).content.decode()
    assert "ghp_hidden" not in page
    assert '<span class="badge" id="token-state">set</span>' in page

    client.post(response["Location"], {"repository": "keras-team/keras", "state": "all", "labels": ""})
    source.refresh_from_db()
    assert source.state == "all" and source.token == "ghp_hidden"  # an empty token field keeps it


def test_a_bad_repository_shows_the_message_on_the_form(client, small_study):
    client.force_login(small_study["curator"])
    response = client.post(reverse("triage:github-sources"), {"repository": "nope", "state": "closed"})
    assert response.status_code == 400
    assert "Give the repository as owner/name" in response.content.decode()
    assert not GitHubSource.objects.exists()


def test_sync_now_queues_a_run_and_its_page_polls_until_finished(
    client, small_study, source, queued, django_capture_on_commit_callbacks
):
    client.force_login(small_study["curator"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("triage:github-source-sync", args=[source.pk]))
    run = SyncRun.objects.get()
    assert response["Location"] == reverse("triage:github-run", args=[run.pk]) and queued == [run.pk]
    page = client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in page and "Waiting for a worker" in page
    SyncRun.objects.filter(pk=run.pk).update(
        status="failed",
        message="GitHub answered 404",
        errors=[{"page": 3, "message": "GitHub answered 404", "detail": "HTTP 404"}],
    )
    partial = client.get(reverse("triage:github-run-progress", args=[run.pk])).content.decode()
    assert "hx-trigger" not in partial and "Resume at page 1" in partial and "HTTP 404" in partial


@pytest.mark.django_db(transaction=True)
def test_report_page_shows_comments_fixes_code_and_links_and_the_review_flag(client, small_study, github_server):
    github_server.add_repo("keras-team/keras", issues=3, comments=1)
    github_server.link_pull_request("keras-team/keras", 2, 77)
    source = services.github_source_create(created_by=None, repository="keras-team/keras", base_url=github_server.url)
    run = services.sync_run_start(source=source, created_by=None, queue=False)
    services.sync_run_execute(run_id=run.pk)
    report = Report.objects.get(source_id="github:keras-team/keras#2")
    StudyItemFactory(study=small_study["study"], report=report, needs_review=True, review_reason="reopened")
    client.force_login(small_study["owner"])  # a member of the study sees its review flag
    page = client.get(reverse("triage:report-detail", args=[report.pk])).content.decode()
    assert 'href="https://github.com/keras-team/keras/pull/77"' in page
    assert "https://gist.github.com/alice/00000002" in page and "colab.research.google.com" in page
    assert page.count('data-python="1"') == 2 and page.count('data-python="0"') == 1
    assert "I can reproduce it on 2.0." in page
    assert "needs review" in page and "reopened" in page
