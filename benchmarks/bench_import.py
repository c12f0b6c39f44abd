"""Import throughput: 100,000 realistic reports (JSONL, ~1 KB bodies, 2-3 labels) into PostgreSQL.

    .venv/bin/python benchmarks/bench_import.py [--scale 0.1]

Target: 5,000 reports/second for a fresh import. Also times a re-import of the same file
(every report unchanged) and a re-import where every title changed (every report updated).
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_imp.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table, setup_django  # noqa: E402

TARGET_PER_SECOND = 5000
FRAMEWORKS = ["tensorflow", "pytorch", "keras", "mxnet", "jax", "dl4j"]
LABELS = [
    "type:bug",
    "comp:ops",
    "comp:keras",
    "module: nn",
    "module: cuda",
    "stat:awaiting response",
    "triaged",
    "high priority",
    "type:performance",
    "comp:gpu",
    "module: autograd",
    "regression",
]
WORDS = (
    "tensor shape gradient layer kernel cuda device batch optimizer loss model graph eager session "
    "conv2d dtype float16 memory leak segfault nan overflow checkpoint export onnx xla compile"
).split()


def write_file(path: Path, n: int, *, seed: int = 7, title_suffix: str = "") -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            fw = FRAMEWORKS[i % len(FRAMEWORKS)]
            words = " ".join(rng.choice(WORDS) for _ in range(110))
            body = (
                f"### Describe the bug\n{words[:600]}\n\n```python\nimport {fw}\nx = {fw}.ones((2, 3))\n"
                f"print(x.sum())\n```\n\nExpected `6.0`, got `nan`. {words[600:900]}"
            )
            created = f"20{18 + i % 6}-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"
            record = {
                "source_id": f"github:{fw}/{fw}#{100000 + i}",
                "kind": "issue" if i % 10 else "crash",
                "framework": fw,
                "title": f"{rng.choice(WORDS)} {rng.choice(WORDS)} fails with {rng.choice(WORDS)} (#{i}){title_suffix}",
                "body": body,
                "url": f"https://github.com/{fw}/{fw}/issues/{100000 + i}",
                "state": "closed" if i % 3 else "open",
                "created_at": created,
                "closed_at": None if i % 3 == 0 else created.replace("T", "T").replace(":00:00Z", ":30:00Z"),
                "labels": rng.sample(LABELS, 2 + i % 2),
                "comments": i % 17,
            }
            out.write(json.dumps(record) + "\n")


def timed_import(path: Path):
    from triage.reports.services import reports_import

    start = time.perf_counter()
    result = reports_import(source=path)
    return result, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 reports (default 1)")
    args = parser.parse_args(argv)
    n = max(100, int(100_000 * args.scale))

    setup_django(os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_imp"))
    from django.db import connection

    with tempfile.TemporaryDirectory() as tmp:
        first, changed = Path(tmp) / "reports.jsonl", Path(tmp) / "reports-changed.jsonl"
        write_file(first, n)
        write_file(changed, n, title_suffix=" [edited]")
        size_mb = first.stat().st_size / 1048576

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE triage_report, triage_sourcelabel RESTART IDENTITY CASCADE")
        fresh, t_fresh = timed_import(first)
        again, t_again = timed_import(first)
        edited, t_edit = timed_import(changed)

    assert fresh.created == n and again.unchanged == n and edited.updated == n, (fresh, again, edited)
    rate = n / t_fresh
    print_table(
        f"Report import, {n:,} reports ({size_mb:.0f} MB JSONL) into PostgreSQL",
        [
            (
                "fresh import (reports/s)",
                f"{rate:,.0f}",
                f"{TARGET_PER_SECOND:,}",
                f"{rate / TARGET_PER_SECOND:.2f}x",
                rate >= TARGET_PER_SECOND,
            ),
            ("fresh import (s)", f"{t_fresh:.1f}", "", fresh.summary(), None),
            (
                "re-import, all unchanged (reports/s)",
                f"{n / t_again:,.0f}",
                f"{TARGET_PER_SECOND:,}",
                f"{n / t_again / TARGET_PER_SECOND:.2f}x",
                n / t_again >= TARGET_PER_SECOND,
            ),
            ("re-import, all titles changed (reports/s)", f"{n / t_edit:,.0f}", "", edited.summary(), None),
        ],
    )


if __name__ == "__main__":
    main()
