"""The GitHub sync (triage/github/services.py) against the local fake GitHub server."""

import pytest

from tests.factories import StudyItemFactory, UserFactory
from tests.fakes.github_server import github_server_fixture
from triage.github import services
from triage.models import CodeBlock, Comment, IssueDetails, LinkedChange, Report, SyncRun

github_server = pytest.fixture(github_server_fixture, name="github_server")  # the fake GitHub API
REPO = "keras-team/keras"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch):
    """Backoff and secondary-limit waits are recorded, not slept."""
    slept: list[float] = []
    monkeypatch.setattr(services, "sleep", slept.append)
    return slept


@pytest.fixture
def queued(monkeypatch):
    from triage.github import tasks

    calls: list[int] = []
    monkeypatch.setattr(tasks.github_sync_run, "delay", calls.append)
    return calls


@pytest.fixture
def source(github_server, queued):
    return services.github_source_create(
        created_by=UserFactory(), repository=REPO, state="all", base_url=github_server.url
    )


def sync(source) -> SyncRun:
    run = services.sync_run_start(source=source, created_by=None)
    result = services.sync_run_execute(run_id=run.pk)
    assert result.pk == run.pk
    return result


def test_pagination_across_pages_stores_issues_comments_code_and_links(github_server, source):
    github_server.add_repo(REPO, issues=250, comments=2)
    run = sync(source)
    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    assert (run.pages_fetched, run.issues_new, run.next_page) == (3, 250, 4)
    assert github_server.count(r"/issues\?") == 3
    assert Report.objects.filter(kind=Report.Kind.ISSUE).count() == 250
    report = Report.objects.get(source_id=f"github:{REPO}#42")
    assert report.framework == "keras" and report.state == "closed" and report.closed_at is not None
    assert set(report.source_labels.values_list("name", flat=True)) == {"type:bug", "comp:keras"}
    details = report.issue
    assert (details.number, details.author, details.reactions_count, details.comments_count) == (42, "reporter0", 2, 2)
    assert {link["kind"] for link in details.links} == {"gist", "notebook"}
    assert report.comments.count() == 2
    blocks = list(report.code_blocks.all())
    assert [b.is_python for b in blocks] == [True, True, True, False]  # Python first
    assert {(b.language, b.is_python, b.comment_id is None) for b in blocks} == {
        ("python", True, True),
        ("", False, True),
        ("", True, False),
    }
    assert source.__class__.objects.get(pk=source.pk).last_success_at == run.started_at


def test_a_second_identical_sync_changes_nothing(github_server, source):
    github_server.add_repo(REPO, issues=120, comments=1)
    sync(source)
    before = (Report.objects.count(), Comment.objects.count(), CodeBlock.objects.count())
    requests_before = len(github_server.requests)
    source.last_success_at = None  # a full re-sync, not incremental
    source.save(update_fields=["last_success_at"])
    run = sync(source)
    assert (run.issues_new, run.issues_updated, run.issues_unchanged) == (0, 0, 120)
    assert (Report.objects.count(), Comment.objects.count(), CodeBlock.objects.count()) == before
    assert len(github_server.requests) - requests_before == 3  # repo + 2 pages; no comments nor timelines


def test_incremental_sync_fetches_only_issues_changed_since_the_last_success(github_server, source):
    github_server.add_repo(REPO, issues=150, comments=1)
    sync(source)
    github_server.touch(REPO, 7, title="conv2d wrong shape (edited)")
    github_server.add_comment(REPO, 140, "Still there:\n\n```python\nimport keras\n```")
    run = sync(source)
    assert run.since is not None
    assert (run.issues_new, run.issues_updated, run.issues_unchanged, run.pages_fetched) == (0, 2, 0, 1)
    assert Report.objects.get(source_id=f"github:{REPO}#7").title == "conv2d wrong shape (edited)"
    assert Report.objects.get(source_id=f"github:{REPO}#140").comments.count() == 2
    assert github_server.count(r"since=") == 1


def test_resume_after_a_failure_at_page_k_continues_there_without_duplicates(github_server, source):
    github_server.add_repo(REPO, issues=450, comments=0)
    github_server.fail_next(r"/issues\?.*page=3", 404)
    run = sync(source)
    assert run.status == SyncRun.Status.FAILED
    assert (run.next_page, run.pages_fetched, Report.objects.count()) == (3, 2, 200)
    services.sync_run_resume(run=run)
    run = services.sync_run_execute(run_id=run.pk)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.pages_fetched, run.issues_new) == (5, 450)
    assert Report.objects.count() == 450
    pages = [int(p.split("page=")[1].split("&")[0]) for p in github_server.requests if "/issues?" in p]
    assert pages == [1, 2, 3, 3, 4, 5]


def test_running_a_finished_run_again_does_nothing(github_server, source):
    github_server.add_repo(REPO, issues=5, comments=0)
    run = sync(source)
    n = len(github_server.requests)
    assert services.sync_run_execute(run_id=run.pk).status == SyncRun.Status.SUCCEEDED
    assert len(github_server.requests) == n


def test_pull_requests_are_kept_apart_unless_the_source_asks_for_them(github_server, source):
    github_server.add_repo(REPO, issues=30, comments=1, pr_every=3)
    run = sync(source)
    assert (run.issues_new, run.pull_requests_seen) == (20, 10)
    assert Report.objects.filter(kind=Report.Kind.PULL_REQUEST).count() == 10
    assert Report.objects.filter(kind=Report.Kind.ISSUE).count() == 20
    assert github_server.count(r"/issues/3/") == 0  # no comments or timeline fetched for a PR

    services.github_source_update(source=source, include_pull_requests=True)
    source.last_success_at = None
    source.save(update_fields=["last_success_at"])
    run = sync(source)
    assert run.pull_requests_seen == 10
    assert run.issues_unchanged + run.issues_updated == 30
    assert IssueDetails.objects.filter(is_pull_request=True).count() == 10


def test_linked_changes_from_the_timeline_and_re_review_flags(github_server, source):
    github_server.add_repo(REPO, issues=12, comments=0)
    sync(source)
    report = Report.objects.get(source_id=f"github:{REPO}#5")
    other = Report.objects.get(source_id=f"github:{REPO}#6")
    item, untouched = StudyItemFactory(report=report), StudyItemFactory(report=other)
    github_server.link_pull_request(REPO, 5, 123)
    github_server.touch(REPO, 5, state="open", body="New body")
    github_server.add_reference(REPO, 8, "c" * 40)
    github_server.touch(REPO, 8)
    sync(source)
    links = {(lc.kind, lc.ref, lc.closes) for lc in LinkedChange.objects.filter(report=report)}
    assert links == {("pull_request", f"{REPO}#123", True), ("commit", f"{123:040x}", True)}
    assert LinkedChange.objects.get(report__source_id=f"github:{REPO}#8").closes is False
    item.refresh_from_db()
    untouched.refresh_from_db()
    assert item.needs_review
    assert "reopened" in item.review_reason and "body edited" in item.review_reason
    assert "linked fix #123 appeared" in item.review_reason
    assert not untouched.needs_review


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (404, "404 not found"),
        (410, "410 gone"),
        (401, "bad credentials"),
        ("malformed", "malformed JSON"),
    ],
)
def test_failure_answers_end_the_run_with_a_clear_message_and_keep_what_was_fetched(
    github_server,
    source,
    status,
    words,
):
    github_server.add_repo(REPO, issues=250, comments=0)
    github_server.fail_next(r"/issues\?.*page=2", status)
    run = sync(source)
    assert run.status == SyncRun.Status.FAILED
    assert words in run.message
    assert run.errors and run.errors[-1]["page"] == 2
    assert Report.objects.count() == 100


def test_a_404_for_the_repository_fails_the_run(github_server, source):
    run = sync(source)  # the repository does not exist on the fake
    assert run.status == SyncRun.Status.FAILED and "check the repository name" in run.message


@pytest.mark.parametrize("status", [500, 502, 503, "reset"])
def test_server_errors_and_resets_are_retried_with_backoff(github_server, source, status, _no_waiting):
    github_server.add_repo(REPO, issues=150, comments=1)
    github_server.fail_next(r"/issues/7/comments", status, times=2)
    run = sync(source)
    assert run.status == SyncRun.Status.SUCCEEDED, run.message
    assert _no_waiting == [1, 2]
    assert Comment.objects.filter(report__source_id=f"github:{REPO}#7").count() == 1


def test_persistent_server_errors_fail_the_run_after_the_retries(github_server, source):
    github_server.add_repo(REPO, issues=150, comments=0)
    github_server.fail_next(r"/issues/120/timeline", 502, times=10)
    run = sync(source)
    assert run.status == SyncRun.Status.FAILED
    assert "502" in run.message and "Resume" in run.message
    assert run.next_page == 2 and Report.objects.count() == 100


def test_primary_rate_limit_saves_the_run_waiting_and_signals_the_task(github_server, source):
    github_server.add_repo(REPO, issues=150, comments=0)
    github_server.rate_limit_next(r"/issues\?.*page=2", status=429, reset_in=30)
    run = services.sync_run_start(source=source, created_by=None)
    with pytest.raises(services.SyncMustWait) as waited:
        services.sync_run_execute(run_id=run.pk)
    assert 25 <= waited.value.countdown <= 35
    run.refresh_from_db()
    assert run.status == SyncRun.Status.WAITING and run.resume_at is not None
    assert (run.next_page, run.rate_limit_waits) == (2, 1)
    assert "rate limit" in run.message
    run = services.sync_run_execute(run_id=run.pk)
    assert run.status == SyncRun.Status.SUCCEEDED and Report.objects.count() == 150


def test_secondary_rate_limit_honours_retry_after(github_server, source, _no_waiting):
    github_server.add_repo(REPO, issues=10, comments=0)
    github_server.rate_limit_next(r"/issues\?", secondary=True, retry_after=7)
    run = sync(source)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert _no_waiting == [7] and run.rate_limit_waits == 1


def test_a_long_secondary_limit_reschedules_instead_of_sleeping(github_server, source):
    github_server.add_repo(REPO, issues=10, comments=0)
    github_server.rate_limit_next(r"/issues\?", secondary=True, retry_after=600)
    run = services.sync_run_start(source=source, created_by=None)
    with pytest.raises(services.SyncMustWait) as waited:
        services.sync_run_execute(run_id=run.pk)
    assert waited.value.countdown > 590


def test_a_transferred_issue_is_followed(github_server, source):
    github_server.add_repo(REPO, issues=3, comments=1)
    github_server.add_repo("keras-team/tf-keras", issues=0)
    github_server.add_issue("keras-team/tf-keras", 2, comments=3)
    github_server.fail_next(
        r"/repos/keras-team/keras/issues/2/comments",
        301,
        headers={"Location": f"{github_server.url}/repos/keras-team/tf-keras/issues/2/comments"},
    )
    run = sync(source)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert Report.objects.get(source_id=f"github:{REPO}#2").comments.count() == 3


def test_a_redirect_to_another_host_fails_clearly(github_server, source):
    github_server.add_repo(REPO, issues=3, comments=1)
    github_server.fail_next(r"/issues/2/comments", 301, headers={"Location": "http://elsewhere.example/x"})
    run = sync(source)
    assert run.status == SyncRun.Status.FAILED and "redirected" in run.message


def test_labels_and_date_windows_filter_the_issues(github_server, source):
    from datetime import UTC, datetime

    github_server.add_repo(REPO, issues=0)
    for n in range(1, 11):
        github_server.add_issue(REPO, n, comments=0, labels=("comp:keras",) if n % 2 else ("other",))
    services.github_source_update(
        source=source, labels=["comp:keras"], created_to=datetime(2023, 1, 1, 6, 30, tzinfo=UTC)
    )
    run = sync(source)
    assert run.issues_new == 3  # 1, 3, 5 (created at 01:00, 03:00, 05:00)
    assert github_server.count("labels=comp%3Akeras") == 1


def test_a_query_uses_the_search_api(github_server, source):
    github_server.add_repo(REPO, issues=20, comments=0, pr_every=4)
    services.github_source_update(source=source, query="conv2d")
    run = sync(source)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.issues_new == 15 and github_server.count("/search/issues") == 1


def test_source_validation_says_how_to_fix(queued):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        services.github_source_create(created_by=None, repository="not a repo")
    assert "owner/name" in str(error.value)
    source = services.github_source_create(created_by=None, repository="https://github.com/pytorch/pytorch/")
    assert source.repository == "pytorch/pytorch" and source.name == "pytorch/pytorch"


def test_start_queues_once_and_returns_the_unfinished_run(github_server, source, queued):
    first = services.sync_run_start(source=source, created_by=None)
    second = services.sync_run_start(source=source, created_by=None)
    assert first.pk == second.pk and queued == [first.pk]


def test_scheduled_sources_are_started_when_due(github_server, source, queued):
    services.github_source_update(source=source, schedule_minutes=60)
    assert services.github_sources_sync_due() == [SyncRun.objects.get().pk]
    assert services.github_sources_sync_due() == []  # its run is not finished yet


def test_runs_the_broker_lost_are_queued_again(github_server, source, queued):
    from datetime import timedelta

    from django.utils import timezone

    run = services.sync_run_start(source=source, created_by=None)
    assert services.github_sources_sync_due() == []  # queued just now: not lost
    SyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    assert services.github_sources_sync_due() == [run.pk]
    assert queued == [run.pk, run.pk]


def test_a_synced_issue_with_a_crash_groups_trace_is_linked_as_possibly_known(github_server, queued):
    from tests.fakes.crash_traces import crash_report
    from triage.crashes.services import crashes_ingest
    from triage.models import CrashGroup, FuzzerAccount

    account = FuzzerAccount.objects.create(user=UserFactory(), name="freefuzz")
    crashes_ingest(reports=[crash_report("torch_conv2d_weight", 0)], account=account)
    trace = crash_report("torch_conv2d_weight", 3)["stack_trace"]  # same bug, other addresses and lines
    github_server.add_repo("pytorch/pytorch")
    github_server.add_issue("pytorch/pytorch", 7, body=f"conv2d crashes:\n\n```\n{trace}\n```\n", comments=0)
    github_server.add_issue("pytorch/pytorch", 8, body="An unrelated slowdown.", comments=0)
    pytorch = services.github_source_create(
        created_by=UserFactory(), repository="pytorch/pytorch", state="all", base_url=github_server.url
    )
    assert sync(pytorch).status == SyncRun.Status.SUCCEEDED
    group = CrashGroup.objects.get()
    assert list(group.possibly_known.values_list("source_id", flat=True)) == ["github:pytorch/pytorch#7"]


def test_the_client_keeps_the_ca_bundle_and_proxies_from_the_environment(github_server, monkeypatch, tmp_path):
    """Reading the environment once must not lose what requests would read on every request."""
    import requests

    from triage.github.pipeline import GitHubClient

    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a real bundle; only its path matters here")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    github_server.add_repo("keras-team/keras", issues=1)
    client = GitHubClient(base_url=github_server.url)
    client.repository("keras-team/keras")
    session = client.requester._Requester__connection.session
    assert isinstance(session, requests.Session) and session.trust_env is False
    assert session.verify == str(bundle)
    assert "https" not in session.proxies and "http" not in session.proxies  # the fake's host is in NO_PROXY
    client.repository("keras-team/keras")  # so it is still reached directly
    client.close()
