"""What the GitHub sync page says when the network fails (issue 17): what went wrong and what to
do, in words; never urllib3's reprs ("<urllib3.connection.HTTPConnection object at 0x...>")."""

import socket
import threading

import pytest
import requests

from tests.factories import UserFactory
from tests.fakes.github_server import github_server_fixture
from triage.github import services
from triage.models import SyncRun

github_server = pytest.fixture(github_server_fixture, name="github_server")
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch):
    monkeypatch.setattr(services, "sleep", lambda seconds: None)


def _real_error(url: str, **kwargs) -> Exception:
    try:
        requests.get(url, **kwargs)
    except requests.RequestException as exc:
        return exc
    raise AssertionError("the request was expected to fail")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_said_in_words():
    exc = _real_error(f"http://127.0.0.1:{_closed_port()}/repos/x/y", timeout=2)
    message = services.network_problem(exc, "http://127.0.0.1:1234/api/v3")
    assert message.startswith("Nothing answers at 127.0.0.1 (connection refused)")
    detail = services.network_detail(exc)
    assert "object at 0x" not in detail and "urllib3" not in detail and "Errno" not in detail


def test_a_server_that_never_answers_is_a_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        exc = _real_error(f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.3)
    finally:
        listener.close()
    assert "did not answer in time" in services.network_problem(exc, "https://github.example.com/api/v3")


def test_an_unknown_host_name_says_check_the_url():
    exc = requests.ConnectionError(socket.gaierror(-2, "Name or service not known"))
    assert "host name github.example.com could not be found" in services.network_problem(
        exc, "https://github.example.com/api/v3"
    )


def test_a_sync_against_a_dead_server_fails_with_an_actionable_message(github_server, monkeypatch):
    from triage.github import tasks

    monkeypatch.setattr(tasks.github_sync_run, "delay", lambda *a: None)
    source = services.github_source_create(
        created_by=UserFactory(), repository="keras-team/keras", state="all", base_url=github_server.url
    )
    github_server.stop()
    run = services.sync_run_start(source=source, created_by=None)
    run = services.sync_run_execute(run_id=run.pk)
    assert run.status == SyncRun.Status.FAILED
    assert "Nothing answers at 127.0.0.1 (connection refused)" in run.message
    assert "Resume the sync once it is fixed" in run.message
    shown = run.message + " ".join(e["detail"] for e in run.errors)
    for raw in ("object at 0x", "HTTPConnectionPool", "NewConnectionError", "MaxRetryError"):
        assert raw not in shown, shown
