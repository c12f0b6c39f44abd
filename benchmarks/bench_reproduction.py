"""Reproduction benchmark: 200 trivial scripts through the whole path, beside the bare sandbox.

Whole path, per run: a Reproduction and its ReproductionRun row (PostgreSQL), a message on
Redis (queue repro.cpu), a real ``celery -A config worker -Q repro.cpu --concurrency=2``
claims the row, finds the cached environment, runs ``pass`` in the bubblewrap sandbox, judges
it and stores the result. The clock runs from the first submission to the last stored result (its row's
finished_at, so the slow poll that waits for it does not add to it).

Direct: the same sandboxed interpreter (``triage.reproduction.sandbox.run_script`` with the same
environment, limits and scratch handling) started 200 times from 2 threads, nothing else.

Measures two layouts of 2 worker processes: one prefork worker with 2 children, and 2 solo workers.
On a shared machine the direct rate drifts with the load, so each layout is measured in rounds that
alternate with the direct measurement (direct, path, direct, path, ..., direct): each path round is
compared with the mean rate of the direct measurements just before and just after it, and the table
gives the median of the rounds (and their range). Direct runs only while the queue is drained and the
workers idle. Prints runs/s for each, the whole path's share of the direct rate (target >= 80%), and the
mean overhead per run, ``2 * (T_path - T_direct) / 200`` seconds (2 runs at a time; target < 150 ms).
Also the mean queue wait (queued -> started), in-worker time outside the sandbox, and the share until
the queue is drained: a task that took runs of other messages (a batch) leaves those messages, which
find their run done and cost one read each; they are counted there.

Usage: .venv/bin/python benchmarks/bench_reproduction.py [--runs 200] [--concurrency 2] [--rounds 3]
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
from dataclasses import dataclass
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


def start_workers(pool: str, concurrency: int, log_dir: Path) -> list[subprocess.Popen]:
    """``prefork``: one worker with ``concurrency`` child processes; ``solo``: ``concurrency`` solo workers."""
    env = {**os.environ, "DATABASE_URL": DB_URL, "CELERY_BROKER_URL": BROKER_URL}
    layouts = [("prefork", concurrency)] if pool == "prefork" else [("solo", 1)] * concurrency
    workers = []
    for n, (kind, slots) in enumerate(layouts):
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={kind}"]
        command += [f"--concurrency={slots}", "--loglevel=warning", "--without-gossip", "--without-mingle"]
        command += ["--without-heartbeat", "--queues=repro.cpu", f"--hostname=bench{n}@%h"]
        log = (log_dir / f"worker{n}.log").open("w")
        workers.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    return workers


# Polling competes with what it measures (same cores): poll slowly and take the end of the whole path
# from the rows' own finished_at, not from when the poll noticed it.
POLL_SECONDS = 0.25


def wait_done(ids: list[int], timeout: float) -> None:
    from triage.models import ReproductionRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not ReproductionRun.objects.filter(reproduction_id__in=ids).exclude(status="done").exists():
            return
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"runs did not finish within {timeout:.0f} s")


def queue_drained(timeout: float) -> float:
    """When no message is left on repro.cpu nor delivered and unacknowledged (kombu's Redis ``unacked``)."""
    from config.celery import app

    deadline = time.monotonic() + timeout
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        while time.monotonic() < deadline:
            if not client.llen("repro.cpu") and not client.hlen("unacked"):
                return time.monotonic()
            time.sleep(POLL_SECONDS / 5)
    raise SystemExit(f"the queue was not drained within {timeout:.0f} s")


def whole_path(runs: int, reproducer) -> tuple[float, float, list]:
    """(seconds to the last stored result, seconds until the queue is drained, the runs)."""
    from django.utils import timezone

    from triage.models import ReproductionRun
    from triage.reproduction import services

    start, start_wall = time.monotonic(), timezone.now()
    ids = [services.reproduction_start(reproducer=reproducer).pk for _ in range(runs)]
    wait_done(ids, timeout=600)
    drained = queue_drained(timeout=600)
    rows = list(ReproductionRun.objects.filter(reproduction_id__in=ids))
    last_stored = max(r.finished_at for r in rows)
    return (last_stored - start_wall).total_seconds(), drained - start, rows


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


@dataclass
class Round:
    path_s: float
    drained_s: float
    direct_s: float  # from the mean rate of the direct measurements before and after this round
    rows: list


def measure_path(pool: str, args, reproducer, log_dir: Path) -> list[Round]:
    """Rounds of the whole path, each between two direct measurements, with this layout's workers up."""
    from triage.reproduction import services

    workers = start_workers(pool, args.concurrency, log_dir)
    rounds = []
    try:
        # Warm up: workers up, the environment built and cached, connections open.
        wait_done([services.reproduction_start(reproducer=reproducer, repeat=4).pk], timeout=300)
        queue_drained(timeout=300)
        before = direct(args.runs, args.concurrency)
        for _ in range(args.rounds):
            path_s, drained_s, rows = whole_path(args.runs, reproducer)
            after = direct(args.runs, args.concurrency)
            rate = (args.runs / before + args.runs / after) / 2
            rounds.append(Round(path_s, drained_s, args.runs / rate, rows))
            before = after
    finally:
        for worker in workers:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=30)
    bad = [r for rnd in rounds for r in rnd.rows if r.exit_code != 0]
    if bad:
        logs = "\n".join(p.read_text()[-2000:] for p in log_dir.glob("*.log"))
        raise SystemExit(f"{len(bad)} runs failed, e.g. {bad[0].verdict}: {bad[0].verdict_detail}\n{logs}")
    return rounds


def rows_for(label: str, rounds: list[Round], args) -> list[tuple]:
    shares = sorted(((rnd.direct_s / rnd.path_s, rnd) for rnd in rounds), key=lambda pair: pair[0])
    share, median = shares[len(shares) // 2]
    path_s, direct_s, rows = median.path_s, median.direct_s, median.rows
    drained = statistics.median(rnd.direct_s / rnd.drained_s for rnd in rounds)
    spread = f"rounds {shares[0][0]:.2f}-{shares[-1][0]:.2f}x"
    overhead_ms = args.concurrency * (path_s - direct_s) / args.runs * 1000
    waits = [(r.started_at - r.queued_at).total_seconds() * 1000 for r in rows]
    outside = [((r.finished_at - r.started_at).total_seconds() * 1000 - r.duration_ms) for r in rows]
    sandbox = [r.duration_ms for r in rows]
    return [
        (f"{label}: runs/s", f"{args.runs / path_s:.1f}", "", f"direct {args.runs / direct_s:.1f} beside it", None),
        (
            f"{label} / direct rate",
            f"{share:.0%}",
            f">= {TARGET_SHARE:.0%}",
            f"{share:.2f}x, {spread}",
            share >= TARGET_SHARE,
        ),
        (f"{label} / direct, until the queue is drained", f"{drained:.0%}", "", "median of rounds", None),
        (
            f"{label}: mean overhead per run",
            f"{overhead_ms:.1f} ms",
            f"< {TARGET_OVERHEAD_MS:.0f} ms",
            f"{overhead_ms / TARGET_OVERHEAD_MS:.2f} of target",
            overhead_ms < TARGET_OVERHEAD_MS,
        ),
        (f"{label}: sandbox time per run", f"{statistics.mean(sandbox):.1f} ms", "", "in the worker", None),
        (
            f"{label}: worker time outside the sandbox",
            f"{statistics.mean(outside):.1f} ms",
            "",
            "claim, env, store",
            None,
        ),
        (f"{label}: queue wait", f"{statistics.mean(waits):.1f} ms", "", "queued -> started, mean", None),
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--pools", default="prefork,solo", help="worker layouts to measure, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="path rounds per layout, each between direct ones")
    args = parser.parse_args()
    if not shutil.which("bwrap"):
        raise SystemExit("bubblewrap is missing: apt-get install -y bubblewrap")
    setup_django(DB_URL)
    from config.celery import app
    from triage.models import Report, Reproduction, Runner
    from triage.reproduction import services

    Reproduction.objects.all().delete()
    Runner.objects.all().delete()
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("repro.cpu")
        # The benchmark's own broker database: forget messages of workers killed earlier (kombu keeps them
        # as unacknowledged until a visibility timeout), so "drained" means this run's messages only.
        conn.default_channel.client.delete("unacked", "unacked_index")
    reproducer = services.reproducer_create(
        report=Report.objects.get_or_create(
            source_id="bench:trivial", defaults={"framework": "none", "title": "bench"}
        )[0],
        script=SCRIPT,
        oracle="assertion",
    )
    log_dir = Path(tempfile.mkdtemp())
    measured = {pool: measure_path(pool, args, reproducer, log_dir) for pool in args.pools.split(",")}
    table = []
    for pool, rounds in measured.items():
        label = f"{args.concurrency} x solo workers" if pool == "solo" else f"1 prefork worker x {args.concurrency}"
        table += rows_for(label, rounds, args)
    print_table(
        f"Reproduction: {args.runs} trivial scripts through row, Redis, worker, sandbox and stored result, "
        f"{args.concurrency} worker processes (PostgreSQL, Redis, bwrap), beside the bare sandbox "
        f"at the same concurrency; median of {args.rounds} rounds",
        table,
    )


if __name__ == "__main__":
    main()
