"""Reproduction benchmark: 200 trivial scripts through the whole path, beside the bare sandbox.

Whole path, per run: a Reproduction and its ReproductionRun row (PostgreSQL), a message on
Redis (queue repro.cpu), a real ``celery -A config worker -Q repro.cpu --concurrency=2``
claims the row, finds the cached environment, runs ``pass`` in the bubblewrap sandbox, judges
it and stores the result. The clock runs from the first submission to the last stored result.

Direct: the same sandboxed interpreter (``triage.reproduction.sandbox.run_script`` with the same
environment, limits and scratch handling) started 200 times from 2 threads, nothing else.

Prints runs/s for both, the whole path's share of the direct rate (target >= 80%), and the mean
overhead per run, ``2 * (T_path - T_direct) / 200`` seconds (2 runs at a time; target < 150 ms).
Also the mean queue wait (queued -> started) and in-worker time outside the sandbox.

Usage: .venv/bin/python benchmarks/bench_reproduction.py [--runs 200] [--concurrency 2]
Database: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bugsift_bench_repro);
broker: BENCH_BROKER_URL (default redis://127.0.0.1:6379/9).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_repro")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9")
os.environ["CELERY_BROKER_URL"] = BROKER_URL
os.environ.setdefault("BUGSIFT_VAR_DIR", str(ROOT / "var" / "bench"))

from benchmarks._table import print_table, setup_django  # noqa: E402

TARGET_OVERHEAD_MS = 150.0
TARGET_SHARE = 0.80
SCRIPT = "pass\n"


def start_worker(concurrency: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": DB_URL, "CELERY_BROKER_URL": BROKER_URL}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--loglevel=warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--queues=repro.cpu",
            "--hostname=bench@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_done(ids: list[int], timeout: float) -> float:
    from triage.models import ReproductionRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not ReproductionRun.objects.filter(reproduction_id__in=ids).exclude(status="done").exists():
            return time.monotonic()
        time.sleep(0.02)
    raise SystemExit(f"runs did not finish within {timeout:.0f} s")


def whole_path(runs: int, reproducer) -> tuple[float, list]:
    from triage import reproduction_services as services
    from triage.models import ReproductionRun

    start = time.monotonic()
    ids = [services.reproduction_start(reproducer=reproducer).pk for _ in range(runs)]
    end = wait_done(ids, timeout=600)
    rows = list(ReproductionRun.objects.filter(reproduction_id__in=ids))
    return end - start, rows


def direct(runs: int, concurrency: int) -> float:
    from triage.reproduction.environments import environment_ensure
    from triage.reproduction.execute import RunnerConfig
    from triage.reproduction.sandbox import Limits, interpreter_binds, run_script

    config = RunnerConfig.from_settings()
    build = environment_ensure([], root=config.root, base_python=config.base_python)
    binds = [*interpreter_binds(build.python), build.env_dir]
    scratch_root = config.root / "scratch"
    scratch_root.mkdir(parents=True, exist_ok=True)

    def one(_):
        scratch = Path(tempfile.mkdtemp(prefix="direct-", dir=scratch_root))
        try:
            result = run_script(
                script=SCRIPT, python=build.python, scratch=scratch, limits=Limits(wall_seconds=60), ro_binds=binds
            )
            assert result.exit_code == 0, result.stderr_tail
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    start = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(runs)))
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("bwrap"):
        raise SystemExit("bubblewrap is missing: apt-get install -y bubblewrap")
    setup_django(DB_URL)
    from config.celery import app
    from triage import reproduction_services as services
    from triage.models import Report, Reproduction, Runner

    Reproduction.objects.all().delete()
    Runner.objects.all().delete()
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("repro.cpu")
    reproducer = services.reproducer_create(
        report=Report.objects.get_or_create(
            source_id="bench:trivial", defaults={"framework": "none", "title": "bench"}
        )[0],
        script=SCRIPT,
        oracle="assertion",
    )
    log_path = Path(tempfile.mkdtemp()) / "worker.log"
    worker = start_worker(args.concurrency, log_path)
    try:
        # Warm up: the worker is up, the environment is built and cached, connections are open.
        wait_done([services.reproduction_start(reproducer=reproducer, repeat=4).pk], timeout=300)
        path_s, rows = whole_path(args.runs, reproducer)
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
    direct_s = direct(args.runs, args.concurrency)

    bad = [r for r in rows if r.exit_code != 0]
    if bad:
        raise SystemExit(
            f"{len(bad)} runs failed, e.g. {bad[0].verdict}: {bad[0].verdict_detail}\n{log_path.read_text()[-3000:]}"
        )
    path_rate, direct_rate = args.runs / path_s, args.runs / direct_s
    overhead_ms = args.concurrency * (path_s - direct_s) / args.runs * 1000
    waits = [(r.started_at - r.queued_at).total_seconds() * 1000 for r in rows]
    outside = [((r.finished_at - r.started_at).total_seconds() * 1000 - r.duration_ms) for r in rows]
    sandbox = [r.duration_ms for r in rows]
    share = path_rate / direct_rate
    print_table(
        f"Reproduction: {args.runs} trivial scripts, {args.concurrency} worker processes (PostgreSQL, Redis, bwrap)",
        [
            ("whole path: runs/s", f"{path_rate:.1f}", "", f"{path_s:.2f} s in all", None),
            ("direct sandboxed `pass`: runs/s", f"{direct_rate:.1f}", "", f"{direct_s:.2f} s in all", None),
            (
                "whole path / direct rate",
                f"{share:.0%}",
                f">= {TARGET_SHARE:.0%}",
                f"{share:.2f}x",
                share >= TARGET_SHARE,
            ),
            (
                "mean overhead per run",
                f"{overhead_ms:.1f} ms",
                f"< {TARGET_OVERHEAD_MS:.0f} ms",
                f"{overhead_ms / TARGET_OVERHEAD_MS:.2f} of target",
                overhead_ms < TARGET_OVERHEAD_MS,
            ),
            ("mean sandbox time per run (in worker)", f"{statistics.mean(sandbox):.1f} ms", "", "", None),
            (
                "mean worker time outside the sandbox",
                f"{statistics.mean(outside):.1f} ms",
                "",
                "claim, env, store",
                None,
            ),
            ("mean queue wait (queued -> started)", f"{statistics.mean(waits):.1f} ms", "", "", None),
        ],
    )


if __name__ == "__main__":
    main()
