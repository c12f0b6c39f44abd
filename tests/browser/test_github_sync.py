"""“Sync now” in a real browser: the run page's counts update live (htmx polling) while a real
Celery worker process syncs from the fake GitHub server (not CELERY_TASK_ALWAYS_EAGER)."""

import re

import pytest

from tests import test_celery_worker as celery_worker_tests
from tests.fakes.github_server import github_server_fixture
from triage.github import services
from triage.models import Report, SyncRun

github_server = pytest.fixture(github_server_fixture, name="github_server")  # the fake GitHub API
worker = celery_worker_tests.worker  # a real `celery -A config worker` process
pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_sync_now_shows_live_progress(login, live_server, small_study, github_server, worker):
    github_server.add_repo("keras-team/keras", issues=450, comments=0)
    github_server.fake.delay = 0.03  # ~1.5 s per page of 100 issues (1 + 100 timeline requests): progress is visible
    source = services.github_source_create(
        created_by=small_study["curator"], repository="keras-team/keras", state="all", base_url=github_server.url
    )
    page = login("carol")  # a curator, who defined the source
    page.goto(f"{live_server.url}/reports/github/{source.pk}/")
    page.click("#sync-now")
    page.wait_for_url(re.compile(r"/reports/github/runs/\d+/$"))
    box = page.locator("#github-run")
    # an intermediate state: some pages fetched while the run is still running
    page.wait_for_function(
        "() => { const b = document.querySelector('#github-run');"
        " return b && b.dataset.status === 'running'"
        " && Number(b.querySelector('[data-count=pages]').textContent) >= 1; }",
        timeout=60_000,
    )
    assert int(box.locator("[data-count=new]").inner_text()) >= 100
    page.wait_for_function("() => document.querySelector('#github-run').dataset.status === 'succeeded'", timeout=90_000)
    assert box.locator("[data-count=pages]").inner_text() == "5"
    assert box.locator("[data-count=new]").inner_text() == "450"
    assert "See the reports" in box.inner_text()
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED and Report.objects.count() == 450
