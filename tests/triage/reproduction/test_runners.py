"""Runners: the GPU check, registration and heartbeats, and real `celery worker` processes that
refuse repro.gpu without a GPU or register, heartbeat and stop on repro.cpu."""

from __future__ import annotations

import os
import platform
import signal
import stat
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.celery_workers import Worker, start_worker, wait_for
from triage.models import Runner
from triage.reproduction import runners
from triage.reproduction.services import (
    RunnerFacts,
    runner_alive,
    runner_heartbeat,
    runner_register,
    runner_stopped,
)

FAKE_SMI = """#!/bin/sh
if [ "$1" = "-L" ]; then
  echo "GPU 0: Fake Tesla (UUID: GPU-0000-fake)"
  echo "GPU 1: Fake Tesla (UUID: GPU-0001-fake)"
else
  echo "| NVIDIA-SMI 550.54    Driver Version: 550.54    CUDA Version: 12.4     |"
fi
"""
SILENT_SMI = "#!/bin/sh\nexit 0\n"


def fake_command(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


# --------------------------------------------------------------------------- the GPU check


class TestGpuCheck:
    def test_cpu_queue_needs_no_gpu(self):
        assert runners.check_gpu_queue(["repro.cpu", "celery"], command="false") == ([], "")

    @pytest.mark.parametrize("command", ["false", "/nonexistent/nvidia-smi -L", "", "'unbalanced"])
    def test_gpu_queue_is_refused_without_a_gpu(self, command):
        with pytest.raises(runners.NoGpuError) as excinfo:
            runners.check_gpu_queue(["repro.gpu"], command=command)
        message = str(excinfo.value)
        assert "refuses to start" in message and "repro.gpu" in message
        assert "consume repro.cpu instead" in message and "BUGSIFT_GPU_CHECK_COMMAND" in message
        assert isinstance(excinfo.value, SystemExit)

    def test_gpu_check_that_prints_nothing_is_refused(self, tmp_path, monkeypatch):
        fake_command(tmp_path, "nvidia-smi", SILENT_SMI)
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
        with pytest.raises(runners.NoGpuError, match="found no GPU"):
            runners.check_gpu_queue(["repro.gpu"], command="nvidia-smi -L")

    def test_gpu_queue_passes_with_a_gpu(self, tmp_path, monkeypatch):
        fake_command(tmp_path, "nvidia-smi", FAKE_SMI)
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
        gpus, cuda = runners.check_gpu_queue(["repro.gpu"], command="nvidia-smi -L")
        assert gpus == ["GPU 0: Fake Tesla (UUID: GPU-0000-fake)", "GPU 1: Fake Tesla (UUID: GPU-0001-fake)"]
        assert cuda == "12.4"

    @pytest.mark.parametrize(
        "option, queues",
        [
            ("repro.cpu", ["repro.cpu"]),
            ("repro.cpu, repro.gpu ,", ["repro.cpu", "repro.gpu"]),
            (["repro.gpu", " celery "], ["repro.gpu", "celery"]),
            (("repro.cpu",), ["repro.cpu"]),
            (None, []),
            ("", []),
        ],
    )
    def test_queues_of(self, option, queues):
        assert runners._queues_of(option) == queues

    def test_celeryd_init_refuses_gpu_queue(self, settings):
        settings.BUGSIFT_GPU_CHECK_COMMAND = "false"
        with pytest.raises(runners.NoGpuError):
            runners.on_celeryd_init(options={"queues": ["repro.gpu"]})
        runners.on_celeryd_init(options={"queues": "celery"})  # a plain worker is not checked
        assert runners._state["queues"] == ["celery"]


def test_installed_frameworks_reports_numpy():
    import numpy

    found = runners.installed_frameworks(sys.executable)
    assert found.get("numpy") == numpy.__version__
    assert set(found) <= set(runners.FRAMEWORKS)


def test_installed_frameworks_of_a_missing_interpreter_is_empty():
    assert runners.installed_frameworks("/nonexistent/python3") == {}


# --------------------------------------------------------------------------- registration and heartbeats


def facts(name: str = "celery@host-1", **fields) -> RunnerFacts:
    values = dict(
        name=name,
        hostname="host-1",
        device="gpu",
        queues=["repro.gpu"],
        cuda_version="12.4",
        gpus=("GPU 0: Fake",),
        frameworks={"torch": "2.13.0"},
        python="3.11.7",
        sandbox="bubblewrap 0.8.0",
        pid=1234,
    )
    values.update(fields)
    return RunnerFacts(**values)


@pytest.mark.django_db
class TestRunnerRows:
    def test_register_heartbeat_stop(self):
        runner = runner_register(facts=facts())
        assert (runner.device, runner.queues, runner.gpus, runner.frameworks) == (
            "gpu",
            ["repro.gpu"],
            ["GPU 0: Fake"],
            {"torch": "2.13.0"},
        )
        assert runner_alive(runner)
        first = runner.last_heartbeat
        assert runner_heartbeat(name=runner.name) is True
        runner.refresh_from_db()
        assert runner.last_heartbeat >= first
        runner_stopped(name=runner.name)
        runner.refresh_from_db()
        assert runner.stopped_at is not None and not runner_alive(runner)
        assert runner_heartbeat(name=runner.name) is True  # a heartbeat after a restart revives it
        runner.refresh_from_db()
        assert runner.stopped_at is None and runner_alive(runner)

    def test_heartbeat_of_an_unknown_runner_asks_to_register(self):
        assert runner_heartbeat(name="celery@nowhere") is False

    def test_register_again_updates_the_same_row(self):
        runner_register(facts=facts())
        runner_stopped(name="celery@host-1")
        again = runner_register(facts=facts(device="cpu", queues=["repro.cpu"], pid=99))
        assert Runner.objects.count() == 1
        assert (again.device, again.queues, again.pid, again.stopped_at) == ("cpu", ["repro.cpu"], 99, None)

    def test_runner_alive(self, settings):
        settings.BUGSIFT_RUNNER_LOST_AFTER_SECONDS = 60
        now = timezone.now()
        runner = Runner(name="r", last_heartbeat=now - timedelta(seconds=59))
        assert runner_alive(runner, now=now)
        assert not runner_alive(runner, now=now + timedelta(seconds=2))
        assert not runner_alive(Runner(name="r"), now=now)  # never sent a heartbeat
        assert not runner_alive(None)

    def test_heartbeat_loop_re_registers_a_deleted_runner(self, monkeypatch):
        """The loop's one iteration: the row is gone, so it registers again."""
        runner_register(facts=facts())
        Runner.objects.all().delete()
        waits = iter([False, True])
        monkeypatch.setattr(runners._heartbeat_stop, "wait", lambda interval: next(waits))
        monkeypatch.setattr("django.db.close_old_connections", lambda: None)
        runners._heartbeat_loop("celery@host-1", facts(), 0.01)
        assert Runner.objects.get().name == "celery@host-1"


# --------------------------------------------------------------------------- real worker processes


def _worker(queue: str, tmp_path: Path, **env) -> Worker:
    return start_worker(tmp_path, name=f"bugsift-test-{uuid.uuid4().hex[:8]}", queues=queue, extra_env=env)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_refuses_repro_gpu_without_a_gpu(tmp_path):
    worker = _worker("repro.gpu", tmp_path, BUGSIFT_GPU_CHECK_COMMAND="false")
    try:
        code = worker.process.wait(timeout=60)
    finally:
        worker.stop()
    output = worker.log(100_000)
    assert code != 0, output[-3000:]
    assert "refuses to start" in output and "repro.gpu" in output, output[-3000:]
    assert not Runner.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_cpu_worker_registers_heartbeats_and_stops(tmp_path):
    worker = _worker("repro.cpu", tmp_path, BUGSIFT_RUNNER_HEARTBEAT_SECONDS="0.5", BUGSIFT_GPU_CHECK_COMMAND="false")
    process = worker.process
    try:
        assert wait_for(
            lambda: Runner.objects.filter(name__startswith="bugsift-test-").exists(), timeout=60, workers=[worker]
        ), worker.log()
        runner = Runner.objects.get(name__startswith="bugsift-test-")
        assert runner.device == "cpu" and runner.queues == ["repro.cpu"] and runner.stopped_at is None
        assert runner.pid == process.pid and runner.python == platform.python_version()
        first = runner.last_heartbeat
        moved = wait_for(lambda: Runner.objects.get(pk=runner.pk).last_heartbeat > first, timeout=30, workers=[worker])
        assert moved, worker.log()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        worker.stop()
    runner.refresh_from_db()
    assert runner.stopped_at is not None, worker.log()
    assert not runner_alive(runner)
