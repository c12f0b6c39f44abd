"""`manage.py ingest_github` against the fake GitHub server."""

import pytest
from django.core.management import CommandError, call_command

from tests.fakes.github_server import github_server_fixture
from triage.models import GitHubSource, Report, SyncRun

github_server = pytest.fixture(github_server_fixture, name="github_server")  # the fake GitHub API
REPO = "pytorch/pytorch"
pytestmark = pytest.mark.django_db(transaction=True)


def run(*args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("ingest_github", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_syncs_with_a_progress_bar_and_prints_the_counts(github_server, monkeypatch, capsys):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_from_env")
    github_server.add_repo(REPO, issues=130, comments=1, pr_every=10)
    out, err = run(REPO, "--state", "closed", "--label", "comp:keras", "--base-url", github_server.url)
    assert out.strip() == "2 pages, 117 new, 0 updated, 0 unchanged, 13 pull requests, 0 rate-limit waits " + (
        f"(sync run {SyncRun.objects.get().pk})"
    )
    assert "pages" in capsys.readouterr().err  # tqdm's bar
    assert Report.objects.filter(kind=Report.Kind.ISSUE).count() == 117
    source = GitHubSource.objects.get()
    assert (source.state, source.labels, source.with_comments) == ("closed", ["comp:keras"], True)

    out, _ = run(REPO, "--base-url", github_server.url, "--no-comments")  # incremental: nothing changed
    assert out.startswith("1 pages, 0 new, 0 updated, 0 unchanged, 0 pull requests")
    assert GitHubSource.objects.count() == 1 and not GitHubSource.objects.get().with_comments


def test_the_command_date_window_and_a_failure(github_server):
    github_server.add_repo(REPO, issues=30, comments=0)
    out, _ = run(REPO, "--base-url", github_server.url, "--since", "2023-01-01", "--until", "2023-01-01")
    assert out.startswith("1 pages, 23 new")  # created at 01:00 .. 23:00 on 2023-01-01
    github_server.fail_next(r"/issues\?", 401)
    with pytest.raises(CommandError, match="bad credentials"):
        run(REPO, "--base-url", github_server.url)
    with pytest.raises(CommandError, match="owner/name"):
        run("nonsense", "--base-url", github_server.url)
    with pytest.raises(CommandError, match="not a date"):
        run(REPO, "--since", "yesterday")
