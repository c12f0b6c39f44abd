"""Crash ingestion benchmark: 100,000 occurrences in batches of 500 through POST /api/crashes/ on gunicorn.

Generates PyTorch-like crash reports (Python traceback + C++ frames through the dispatcher, with
varying addresses, line numbers, versions, install paths and glue) for about 2,000 distinct bugs,
pre-encodes the batches, starts ``gunicorn config.wsgi -w 4`` (DJANGO_DEBUG=0) on a free port and
posts the batches from 4 client threads with a fuzzer account's token. Then, as the storage floor,
empties the occurrence table and writes the same CrashOccurrence rows with a plain ``bulk_create``
(batches of 500) into the groups the API made.

Prints occurrences/s and p50/p99 batch latency for the API, the floor's rate and the API's share
of it. Targets: >= 2,000 occurrences/s and >= 40% of the floor.

Usage: .venv/bin/python benchmarks/bench_crashes.py [--scale 0.1] [--clients 4]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_crs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _server  # noqa: E402
from benchmarks._table import print_table, setup_django  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_crs")
WORKERS = os.environ.get("BENCH_WORKERS", "4")
BATCH = 500
TARGET_RATE = 2000.0
TARGET_SHARE = 0.40
OPS = ["conv2d", "max_pool2d", "linear", "embedding", "layer_norm", "gather", "index_select", "scatter_add"]
CHECKS = ["check_shape_forward", "check_dims", "check_input", "validate_args", "check_dtype"]


def make_report(n: int, bug: int, rng: random.Random) -> dict:
    """One PyTorch-like report of ``bug``: the same 3 meaningful frames, everything else varying."""
    op = OPS[bug % len(OPS)]
    root = rng.choice(["/usr/local/lib/python3.8/dist-packages", "/opt/conda/lib/python3.10/site-packages"])
    frames = [
        "c10::Error::Error(c10::SourceLocation, std::string)",
        "c10::detail::torchCheckFail(char const*, char const*, unsigned int, std::string const&)",
        f"at::native::{CHECKS[bug % len(CHECKS)]}_{bug}(at::Tensor const&, c10::ArrayRef<long>)",
        f"at::native::(anonymous namespace)::{op}_impl_{bug // 7}<float>(at::Tensor const&)",
        f"at::native::{op}(at::Tensor const&, at::Tensor const&)",
        f"at::_ops::{op}::call(at::Tensor const&, at::Tensor const&)",
        f"torch::autograd::THPVariable_{op}(_object*, _object*, _object*)",
        "_PyEval_EvalFrameDefault",
    ]
    cpp = "\n".join(
        f"frame #{i}: {f} + 0x{rng.randrange(16, 4096):x} "
        f"(0x7f{rng.randrange(1 << 36):x} in {root}/torch/lib/libtorch_cpu.so)"
        for i, f in enumerate(frames)
    )
    trace = (
        "Traceback (most recent call last):\n"
        f'  File "/home/fuzz/FreeFuzz/src/run_torch.py", line {rng.randrange(20, 90)}, in <module>\n'
        f'  File "<string>", line {rng.randrange(1, 9)}, in <module>\n'
        f'  File "{root}/torch/nn/functional.py", line {rng.randrange(1000, 5000)}, in {op}\n'
        f"RuntimeError: check {bug} failed for input of size [{rng.randrange(1, 64)}, {rng.randrange(1, 64)}]\n"
        f"Exception raised from {op} at /opt/pytorch/aten/src/ATen/native/{op}.cpp:{rng.randrange(10, 900)} "
        "(most recent call first):\n" + cpp + "\n"
    )
    return {
        "client_id": f"bench-{n}",
        "fuzzer": "freefuzz",
        "framework": "pytorch",
        "framework_version": rng.choice(["1.13.1", "2.0.1", "2.1.0", "2.2.0"]),
        "api": f"torch.nn.functional.{op}",
        "device": rng.choice(["cpu", "cuda"]),
        "oracle": "exception",
        "message": f"check {bug} failed",
        "stack_trace": trace,
        "reproducer": f"import torch\nx = torch.randn({rng.randrange(1, 9)}, 3)\ntorch.nn.functional.{op}(x, x)\n",
        "created_at": f"2024-03-{1 + n % 28:02d}T{n % 24:02d}:00:00Z",
        "extra": {"seed": n},
    }


def reset():
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE triage_groupdecision, triage_crashgroup_possibly_known, triage_crashoccurrence, "
            "triage_crashgroup RESTART IDENTITY CASCADE"
        )
        cur.execute("DELETE FROM triage_report WHERE kind = 'crash'")
    from triage.crashes.services import fuzzer_account_ensure

    return fuzzer_account_ensure(name="bench-fuzzer")


def start_gunicorn(port: int) -> subprocess.Popen:
    return _server.start_gunicorn(port=port, db_url=DB_URL, workers=WORKERS)


def post_all(port: int, token: str, bodies: list[bytes], clients: int) -> tuple[list[float], float]:
    work: queue.Queue = queue.Queue()
    for body in bodies:
        work.put(body)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter()
            conn.request("POST", "/api/crashes/", body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed * 1000)
                if response.status not in (200, 201):
                    errors.append(f"{response.status}: {content[:300]!r}")
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} batches failed, e.g. {errors[0]}")
    return latencies, seconds


def floor(reports: list[dict]) -> float:
    """Seconds to bulk_create the same CrashOccurrence rows (batches of 500) into the existing groups."""
    from django.db import connection, transaction

    from triage.crashes.intake import crash_parse
    from triage.crashes.signatures import sign
    from triage.models import CrashGroup, CrashOccurrence

    group_of = dict(CrashGroup.objects.values_list("signature", "id"))
    rows = []
    for data in reports:
        item, _ = crash_parse(data)
        signed = sign(
            framework=item.framework,
            oracle=item.oracle,
            api=item.api,
            message=item.message,
            stack_trace=item.stack_trace,
        )
        rows.append(
            CrashOccurrence(
                group_id=group_of[signed.signature],
                client_id=item.client_id,
                fuzzer=item.fuzzer,
                framework=item.framework,
                framework_version=item.framework_version,
                api=item.api,
                device=item.device,
                oracle=item.oracle,
                message=item.message,
                stack_trace=item.stack_trace,
                reproducer=item.reproducer,
                signature=signed.signature,
                kept_frames=signed.kept_frames,
                created_at=item.created_at,
                extra=item.extra,
            )
        )
    with connection.cursor() as cur:
        cur.execute("TRUNCATE triage_crashoccurrence")
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        with transaction.atomic():
            CrashOccurrence.objects.bulk_create(rows[start : start + BATCH])
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 100,000 occurrences (default 1)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent posting clients (default 4)")
    args = parser.parse_args(argv)
    total = max(BATCH, int(100_000 * args.scale))
    bugs = max(10, int(2_000 * args.scale))

    setup_django(DB_URL)
    _, token, _ = reset()
    rng = random.Random(7)
    reports = [make_report(n, rng.randrange(bugs), rng) for n in range(total)]
    bodies = [json.dumps(reports[i : i + BATCH]).encode() for i in range(0, total, BATCH)]
    print(
        f"{total:,} reports of {bugs:,} bugs in {len(bodies)} batches, {sum(map(len, bodies)) / 1e6:.0f} MB", flush=True
    )

    from django.db import connections

    connections.close_all()
    port = _server.free_port()
    server = start_gunicorn(port)
    try:
        latencies, seconds = post_all(port, token, bodies, args.clients)
    finally:
        _server.stop_gunicorn(server)

    from triage.models import CrashGroup, CrashOccurrence

    stored = CrashOccurrence.objects.count()
    groups = CrashGroup.objects.count()
    counted = sum(CrashGroup.objects.values_list("occurrence_count", flat=True))
    if stored != total or counted != total:
        raise SystemExit(f"stored {stored} occurrences, groups count {counted}; expected {total}")
    floor_seconds = floor(reports)
    rate, floor_rate = total / seconds, total / floor_seconds
    share = rate / floor_rate
    print_table(
        f"Crash ingestion: {total:,} occurrences, {groups:,} groups, batches of {BATCH}, "
        f"{args.clients} clients on gunicorn -w {WORKERS}",
        [
            ("API occurrences/s", f"{rate:,.0f}", f">= {TARGET_RATE:,.0f}", f"{seconds:.1f} s", rate >= TARGET_RATE),
            (
                "API batch latency p50 / p99",
                f"{percentile(latencies, 50):.0f} / {percentile(latencies, 99):.0f} ms",
                "",
                f"n={len(latencies)}",
                None,
            ),
            ("floor: bulk_create rows/s", f"{floor_rate:,.0f}", "baseline", f"{floor_seconds:.1f} s", None),
            ("API share of the floor", f"{share:.0%}", f">= {TARGET_SHARE:.0%}", "", share >= TARGET_SHARE),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
