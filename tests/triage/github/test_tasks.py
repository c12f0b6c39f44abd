"""The Celery tasks of GitHub ingestion (run eagerly here; the browser test uses a real worker)."""

import pytest
from celery.exceptions import Retry

from tests.fakes.github_server import github_server_fixture
from triage.github import services, tasks
from triage.models import Report, SyncRun

github_server = pytest.fixture(github_server_fixture, name="github_server")  # the fake GitHub API
pytestmark = pytest.mark.django_db(transaction=True)
REPO = "apache/mxnet"


@pytest.fixture
def run(github_server, monkeypatch):
    monkeypatch.setattr(services, "sleep", lambda s: None)
    github_server.add_repo(REPO, issues=150, comments=0)
    source = services.github_source_create(created_by=None, repository=REPO, base_url=github_server.url)
    return services.sync_run_start(source=source, created_by=None, queue=False)


def test_the_task_syncs_and_running_it_twice_is_safe(run, github_server):
    assert tasks.github_sync_run.apply(args=[run.pk]).get() == "succeeded"
    n = len(github_server.requests)
    assert tasks.github_sync_run.apply(args=[run.pk]).get() == "succeeded"
    assert len(github_server.requests) == n and Report.objects.count() == 150
    assert tasks.github_sync_run.apply(args=[999_999]).get() == "missing"


def test_a_rate_limit_reschedules_the_task_instead_of_sleeping(run, github_server, monkeypatch):
    github_server.rate_limit_next(r"/issues\?.*page=2", reset_in=120)
    retried = {}

    def fake_retry(*args, countdown=None, max_retries=None, **kwargs):
        retried.update(countdown=countdown, max_retries=max_retries)
        return Retry("rescheduled", when=countdown)

    monkeypatch.setattr(tasks.github_sync_run, "retry", fake_retry)
    with pytest.raises(Retry):
        tasks.github_sync_run.apply(args=[run.pk], throw=True).get()
    assert 110 <= retried["countdown"] <= 125 and retried["max_retries"] is None
    run.refresh_from_db()
    assert run.status == SyncRun.Status.WAITING and run.next_page == 2


def test_the_beat_task_starts_due_sources(run, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.github_sync_run, "delay", queued.append)
    SyncRun.objects.all().delete()
    run.source.schedule_minutes = 30
    run.source.save(update_fields=["schedule_minutes"])
    assert tasks.github_sources_sync_due.apply().get() == 1
    assert queued == [SyncRun.objects.get().pk]
    from config.celery import app

    assert app.conf.beat_schedule["github-sources-sync-due"]["task"] == "triage.tasks.github_sources_sync_due"
