"""Reproductions through real `celery -A config worker -Q repro.cpu` processes and the real sandbox.

Hostile scripts, a runner killed mid-run, a differential run whose two configurations really
differ, and a bisection over locally built wheels, each end to end: row, broker, worker,
environment, bubblewrap, oracle, result stored.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

from tests.celery_workers import start_worker, wait_for
from tests.factories import ReportFactory, UserFactory
from tests.fakes.tinypkg import build_wheels
from triage.models import Reproduction, ReproductionRun, Runner
from triage.reproduction import services

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("requires_bwrap")]

Verdict = ReproductionRun.Verdict


def _purge_repro_queues():
    from config.celery import app

    with app.connection_for_write() as conn:
        for queue in ("repro.cpu", "repro.gpu"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - a queue that does not exist yet has nothing to purge
                pass


@pytest.fixture
def wheels(tmp_path_factory) -> Path:
    return build_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.fixture
def runner_env(wheels) -> dict[str, str]:
    return {
        "BUGSIFT_RUNNER_HEARTBEAT_SECONDS": "0.5",
        "BUGSIFT_RUNNER_LOST_AFTER_SECONDS": "4",
        "BUGSIFT_REPRO_WHEEL_DIR": str(wheels),
        "BUGSIFT_REPRO_OFFLINE": "1",
    }


@pytest.fixture
def workers(tmp_path, runner_env):
    started = []

    def start(name: str, **kwargs):
        worker = start_worker(tmp_path, name=name, queues="repro.cpu", extra_env=runner_env, **kwargs)
        started.append(worker)
        assert wait_for(
            lambda: Runner.objects.filter(name__startswith=f"{name}@").exists(), timeout=60, workers=[worker]
        ), f"runner {name} did not register; log:\n{worker.log()}"
        return worker

    _purge_repro_queues()
    yield start
    for worker in started:
        worker.stop()


def _reproduce(script: str, *, oracle="assertion", timeout=30, memory_mb=1024, requirements="", repeat=1, **extra):
    report = ReportFactory()
    reproducer = services.reproducer_create(
        report=report,
        script=textwrap.dedent(script),
        oracle=oracle,
        timeout_seconds=timeout,
        memory_mb=memory_mb,
        requirements=requirements,
        **extra,
    )
    return services.reproduction_start(reproducer=reproducer, repeat=repeat, requested_by=UserFactory())


def _wait_done(reproductions, workers_, timeout=240):
    ids = [r.pk for r in reproductions]

    def all_done():
        return not Reproduction.objects.filter(pk__in=ids).exclude(status=Reproduction.Status.DONE).exists()

    ok = wait_for(all_done, timeout=timeout, interval=0.5, workers=workers_)
    assert ok, (
        "runs did not finish; worker log:\n"
        + "\n".join(w.log() for w in workers_)
        + "\n"
        + "\n".join(
            str(list(ReproductionRun.objects.filter(reproduction_id=i).values("status", "verdict", "attempt")))
            for i in ids
        )
    )


def _run(reproduction) -> ReproductionRun:
    return ReproductionRun.objects.get(reproduction=reproduction)


HOSTILE = {
    "socket_local": """
        import socket
        s = socket.create_connection(("127.0.0.1", 5432), timeout=3)
        print("CONNECTED")
    """,
    "socket_outside": """
        import socket
        s = socket.create_connection(("8.8.8.8", 53), timeout=3)
        print("CONNECTED")
    """,
    "socket_unix_postgres": """
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.connect("/var/run/postgresql/.s.PGSQL.5432")
        print("CONNECTED")
    """,
    "fork_bomb": """
        import os
        while True:
            os.fork()
    """,
    "allocate_20gb": """
        block = bytearray(20 * 1024 ** 3)
        print("ALLOCATED", len(block))
    """,
    "write_10gb": """
        chunk = b"x" * (1 << 20)
        with open("big.bin", "wb") as f:
            for _ in range(10 * 1024):
                f.write(chunk)
        print("WROTE 10 GB")
    """,
    "infinite_loop": """
        while True:
            pass
    """,
    "print_1gb": """
        import sys
        line = "x" * ((1 << 20) - 1) + "\\n"
        for _ in range(1024):
            sys.stdout.write(line)
    """,
    "read_secrets": """
        import os
        for key, value in sorted(os.environ.items()):
            print(f"{key}={value}")
    """,
    "read_app_files": """
        import sys
        for path in sys.argv[1:] or PATHS:
            try:
                with open(path, "rb") as f:
                    print("READ", path, len(f.read()))
            except OSError as exc:
                print("REFUSED", path, type(exc).__name__)
    """,
    "write_outside_scratch": """
        import os
        for path in ("/usr/bugsift-pwned", "/tmp/bugsift-pwned", "/opt/bugsift/pwned", "/proc/sys/kernel/hostname",
                     os.path.expanduser("~/../pwned"), "/etc/pwned"):
            try:
                with open(path, "w") as f:
                    f.write("x")
                print("WROTE", path)
            except OSError as exc:
                print("REFUSED", path, type(exc).__name__)
        with open("inside.txt", "w") as f:
            f.write("scratch is writable")
        print("SCRATCH OK")
    """,
    "kill_parent": """
        import os, signal, time
        print("parent", os.getppid(), flush=True)
        try:
            os.kill(os.getppid(), signal.SIGKILL)
        except OSError as exc:
            print("kill parent refused:", exc, flush=True)
        os.kill(-1, signal.SIGKILL)
        time.sleep(5)
        print("STILL HERE")
    """,
}


def test_hostile_scripts_are_contained_and_the_worker_keeps_serving(workers, monkeypatch):
    worker = workers("hostile", pool="prefork", concurrency=2)
    app_files = [
        str(Path(settings.BASE_DIR) / "config" / "settings.py"),
        str(Path(settings.BASE_DIR) / "manage.py"),
        str(Path(settings.DATABASES["default"].get("TEST", {}).get("NAME") or settings.BASE_DIR / "var" / "x")),
        str(Path(settings.BASE_DIR) / ".git" / "config"),
        "/etc/shadow",
        "/root/.bash_history",
    ]
    scripts = dict(HOSTILE)
    scripts["read_app_files"] = f"PATHS = {app_files!r}\n" + textwrap.dedent(HOSTILE["read_app_files"])
    timeouts = {"infinite_loop": 3, "fork_bomb": 8, "kill_parent": 20, "print_1gb": 120}
    started = {name: _reproduce(script, timeout=timeouts.get(name, 30)) for name, script in scripts.items()}
    _wait_done(started.values(), [worker], timeout=400)
    runs = {name: _run(reproduction) for name, reproduction in started.items()}

    for name in ("socket_local", "socket_outside", "socket_unix_postgres"):
        run = runs[name]
        assert "CONNECTED" not in run.stdout_tail, name
        # Refused, so the script fails; a blocked connection is a set-up failure, never a reproduction.
        assert run.exit_code == 1, (name, run.stderr_tail[-500:])
        assert run.verdict in (Verdict.INCONCLUSIVE, Verdict.CRASHED_DIFFERENTLY), (name, run.verdict_detail)
        assert any(word in run.stderr_tail for word in ("unreachable", "refused", "No such file", "Errno")), name

    bomb = runs["fork_bomb"]
    assert bomb.verdict == Verdict.LIMIT_EXCEEDED and bomb.limit_hit in {"processes", "wall_time", "cpu_time"}, (
        bomb.limit_hit,
        bomb.verdict_detail,
        bomb.stderr_tail[-300:],
    )

    memory = runs["allocate_20gb"]
    assert "ALLOCATED" not in memory.stdout_tail
    assert memory.verdict == Verdict.LIMIT_EXCEEDED and memory.limit_hit == "memory", memory.stderr_tail[-300:]

    big_file = runs["write_10gb"]
    assert "WROTE" not in big_file.stdout_tail
    assert big_file.verdict == Verdict.LIMIT_EXCEEDED and big_file.limit_hit == "file_size", big_file.verdict_detail

    loop = runs["infinite_loop"]
    assert loop.verdict == Verdict.LIMIT_EXCEEDED and loop.limit_hit in {"wall_time", "cpu_time"}
    assert loop.duration_ms < 30_000

    flood = runs["print_1gb"]
    assert flood.exit_code == 0 and flood.verdict == Verdict.NOT_REPRODUCED, flood.verdict_detail
    assert flood.stdout_bytes >= 1024**3, flood.stdout_bytes
    assert len(flood.stdout_tail.encode()) <= 128 * 1024

    env_dump = runs["read_secrets"].stdout_tail
    assert "DATABASE_URL" not in env_dump and "DJANGO_SECRET_KEY" not in env_dump and "CELERY" not in env_dump
    assert os.environ["DJANGO_SECRET_KEY"] not in env_dump
    assert "BUGSIFT_DEVICE=cpu" in env_dump

    files = runs["read_app_files"].stdout_tail
    assert "READ" not in files.replace("REFUSED", ""), files
    assert files.count("REFUSED") == len(app_files)

    writes = runs["write_outside_scratch"].stdout_tail
    assert "WROTE" not in writes and "SCRATCH OK" in writes, writes
    assert not Path("/usr/bugsift-pwned").exists() and not Path("/tmp/bugsift-pwned").exists()

    killer = runs["kill_parent"]
    assert killer.status == ReproductionRun.Status.DONE and "STILL HERE" not in killer.stdout_tail

    # The worker survived all of it and serves the next run.
    assert worker.process.poll() is None, worker.log()
    after = _reproduce('print("hello from the next run")', oracle="crash", expect="RuntimeError")
    _wait_done([after], [worker])
    run = _run(after)
    assert run.exit_code == 0 and run.verdict == Verdict.NOT_REPRODUCED
    assert "hello from the next run" in run.stdout_tail
    assert run.peak_memory_kb and run.duration_ms is not None and run.runner.name.startswith("hostile@")


def _script_processes(token: str) -> list[str]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if token in line and "ps -eo" not in line]


def test_runner_killed_mid_run_is_retried_once_on_another_runner(workers, settings):
    settings.BUGSIFT_RUNNER_LOST_AFTER_SECONDS = 4
    first = workers("first")
    reproduction = _reproduce(
        """
        import time
        print("TOKEN-killed-runner started", flush=True)
        time.sleep(6)
        print("finished")
        """,
        timeout=60,
    )
    run = _run(reproduction)
    assert wait_for(
        lambda: ReproductionRun.objects.filter(pk=run.pk, status="running").exists(), timeout=120, workers=[first]
    ), first.log()
    seen = wait_for(lambda: _script_processes("main.py"), timeout=30)
    assert seen, (list(ReproductionRun.objects.filter(pk=run.pk).values()), first.log())
    first.kill()  # SIGKILL: the worker and its process group
    # The sandbox dies with its runner (--die-with-parent): no script process is left behind.
    assert wait_for(lambda: not _script_processes("main.py"), timeout=15), _script_processes("main.py")

    second = workers("second")
    assert wait_for(lambda: services.runs_sweep().requeued_lost == 1, timeout=30, interval=1), "the sweep never saw it"
    _wait_done([reproduction], [second], timeout=120)

    run.refresh_from_db()
    assert run.attempt == 2 and run.runner.name.startswith("second@"), (run.attempt, run.runner)
    assert run.verdict == Verdict.NOT_REPRODUCED and "finished" in run.stdout_tail
    finished_at = run.finished_at
    # A late redelivery of the first message (or a second sweep) changes nothing: stored exactly once.
    services.runs_sweep()
    services.run_execute(run_id=run.pk, runner_name="late@host", pid=os.getpid())
    run.refresh_from_db()
    assert run.finished_at == finished_at and run.attempt == 2
    reproduction.refresh_from_db()
    assert reproduction.summary == "reproduced 0/1" and reproduction.finished_count == 1


def test_runner_killed_mid_batch_leaves_the_rest_to_another_runner_each_result_stored_once(workers, settings):
    """One task takes the runs of a reproduction in turn (a batch); its runner is killed during the second:
    the first stays stored, the second is retried once elsewhere, the others run once there."""
    settings.BUGSIFT_RUNNER_LOST_AFTER_SECONDS = 4
    first = workers("first")
    reproduction = _reproduce(
        """
        import time
        print("TOKEN-batch started", flush=True)
        time.sleep(2)
        print("finished")
        """,
        timeout=60,
        repeat=4,
    )
    runs = reproduction.runs.order_by("pk")

    def second_run_started():
        states = list(runs.values_list("status", flat=True))
        return states[:2] == ["done", "running"]

    assert wait_for(second_run_started, timeout=120, workers=[first]), (list(runs.values()), first.log())
    assert wait_for(lambda: _script_processes("main.py"), timeout=30)
    first.kill()
    second = workers("second")

    def recovered():  # as beat would: the sweep, or run 1's own message once its runner is silent, retries it
        services.runs_sweep()
        return not runs.exclude(status="done").exists()

    assert wait_for(recovered, timeout=120, interval=1, workers=[second]), (list(runs.values()), second.log())
    done = list(runs.select_related("runner"))
    assert [(r.attempt, r.runner.name.split("@")[0]) for r in done] == [
        (1, "first"),
        (2, "second"),
        (1, "second"),
        (1, "second"),
    ], second.log()
    assert all(r.verdict == Verdict.NOT_REPRODUCED and "finished" in r.stdout_tail for r in done)
    stored = {r.pk: r.finished_at for r in done}
    # Late deliveries of every message (the killed task's one included) change nothing: stored exactly once.
    for run in done:
        result = services.runs_execute(run_id=run.pk, runner_name="late@host", pid=os.getpid())
        assert result.executed == []
    assert {r.pk: r.finished_at for r in runs} == stored
    reproduction.refresh_from_db()
    assert reproduction.summary == "reproduced 0/4" and reproduction.finished_count == 4


def test_pool_process_killed_mid_batch_has_its_run_retried_by_its_own_runner(workers):
    """A prefork child killed during the second run of its batch (its runner lives on): that run is queued
    again (the runner's heartbeat, or its message finding its holder dead) and retried once; the rest of
    the batch runs once."""
    import signal

    worker = workers("pool", pool="prefork", concurrency=1)
    reproduction = _reproduce(
        """
        import time
        time.sleep(2)
        print("finished")
        """,
        timeout=60,
        repeat=3,
    )
    runs = reproduction.runs.order_by("pk")
    assert wait_for(
        lambda: list(runs.values_list("status", flat=True))[:2] == ["done", "running"], timeout=120, workers=[worker]
    ), (list(runs.values()), worker.log())
    held = runs[1]
    os.kill(held.worker_pid, signal.SIGKILL)  # the pool process only: the worker's main process lives on
    _wait_done([reproduction], [worker], timeout=120)
    done = list(runs.select_related("runner"))
    assert [r.attempt for r in done] == [1, 2, 1], (list(runs.values()), worker.log())
    assert all(r.runner.name.startswith("pool@") and "finished" in r.stdout_tail for r in done)
    assert done[1].worker_pid != held.worker_pid


DIFFERENTIAL_SCRIPT = """
    import tinypkg
    from bugsift_capture import save
    print("tinypkg", tinypkg.__version__)
    save("sums", [tinypkg.add(1, 2), tinypkg.add(10, 20)])
    save("constant", [1.0, float("nan")])
"""


def test_differential_run_compares_two_real_configurations(workers):
    worker = workers("diff", pool="prefork", concurrency=2)
    reproduction = _reproduce(
        DIFFERENTIAL_SCRIPT,
        oracle="differential",
        requirements="bugsift-tinypkg==1.1",
        compare_requirements="bugsift-tinypkg==1.2",
    )
    same = _reproduce(
        DIFFERENTIAL_SCRIPT,
        oracle="differential",
        requirements="bugsift-tinypkg==1.0",
        compare_requirements="bugsift-tinypkg==1.1",
    )
    _wait_done([reproduction, same], [worker])
    a, b = ReproductionRun.objects.filter(reproduction=reproduction).order_by("side")
    assert "tinypkg 1.1" in a.stdout_tail and "tinypkg 1.2" in b.stdout_tail
    assert a.verdict == b.verdict == Verdict.REPRODUCED, a.verdict_detail
    items = {item["name"]: item for item in b.comparison["items"]}
    assert items["sums"]["status"] == "differs" and items["constant"]["status"] == "equal"
    assert set(a.outputs) >= {"sums", "constant"}
    assert {r.verdict for r in ReproductionRun.objects.filter(reproduction=same)} == {Verdict.NOT_REPRODUCED}


def test_bisection_over_local_wheels_finds_the_first_bad_version(workers):
    worker = workers("bisect")
    report = ReportFactory()
    reproducer = services.reproducer_create(
        report=report,
        script="import tinypkg\nassert tinypkg.add(2, 2) == 4, f'add is wrong in {tinypkg.__version__}'\n",
        oracle="assertion",
        timeout_seconds=60,
    )
    versions = ["1.0", "1.1", "1.2", "1.3"]  # bad from 1.2 (tests/fakes/tinypkg.py)
    reproduction = services.bisection_start(reproducer=reproducer, package="bugsift-tinypkg", versions=versions)
    _wait_done([reproduction], [worker], timeout=300)
    reproduction.refresh_from_db()
    result = reproduction.bisect_result
    assert result["mode"] == "introduced" and result["last_good"] == "1.1" and result["first_bad"] == "1.2", result
    tried = list(reproduction.runs.order_by("index").values_list("version", "verdict"))
    assert len(tried) <= 4 and ("1.2", Verdict.REPRODUCED) in tried and ("1.1", Verdict.NOT_REPRODUCED) in tried


def test_missing_sandbox_is_refused_with_how_to_install(workers, tmp_path):
    worker = start_worker(
        tmp_path,
        name="nobwrap",
        queues="repro.cpu",
        extra_env={"BUGSIFT_SANDBOX_BWRAP": "/nonexistent/bwrap"},
    )
    try:
        reproduction = _reproduce('print("never runs")')
        _wait_done([reproduction], [worker], timeout=120)
        run = _run(reproduction)
        assert run.verdict == Verdict.REFUSED and "apt-get install -y bubblewrap" in run.verdict_detail
        assert "never runs" not in run.stdout_tail
    finally:
        worker.stop()
