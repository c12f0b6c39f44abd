"""Export benchmark: `export_study` on a 100,000-item study against PostgreSQL's own COPY.

Builds (or reuses) a study with 100,000 items, 3 annotators, 4 dimensions, 1.2 million
annotations and final labels for most items (benchmarks/_dataset.py, with COPY), then:

* runs `export_study <slug> --format csv|jsonl --output /dev/null` (call_command) in a
  SUBPROCESS, timing the export itself (not Django's start-up) and reading that process's
  own peak RSS (getrusage RUSAGE_SELF in the process; see run_child for why not RUSAGE_CHILDREN);
* times `COPY (<the same columns in SQL>) TO STDOUT WITH (FORMAT csv)` into a null sink.

Targets: CSV rows/s at least 50% of COPY's (issue 18), peak memory below 150 MB.
Usage: .venv/bin/python benchmarks/bench_export.py [--scale 0.1] [--repeat 3]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_dat.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._table import print_table, setup_django  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_dat")
TARGET_RATIO = 0.5  # issue 18: the CSV export at least half as fast as PostgreSQL COPY of the same rows
TARGET_MB = 150


def child(slug: str, fmt: str):
    """Run in the subprocess: set Django up, then time the export command alone."""
    os.environ["DATABASE_URL"] = DB_URL
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret")
    os.environ.setdefault("BUGSIFT_FIELD_ENCRYPTION_KEY", "bmVuY2htYXJrLW9ubHktZW5jcnlwdGlvbi1rZXktMzI=")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    connection.ensure_connection()
    started = time.perf_counter()
    call_command("export_study", slug, format=fmt, output=os.devnull, verbosity=0)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def run_child(slug: str, fmt: str) -> tuple[float, float, float]:
    """(seconds for the export, seconds for the whole process, peak RSS of the export process in MB).

    The export runs in a grandchild started by a shell: a process forked straight from this
    (large) one inherits its resident-set high-water mark through fork + exec, so its own
    ``ru_maxrss`` would report this process's memory. Forked from the small shell, the
    grandchild's ``getrusage(RUSAGE_SELF).ru_maxrss`` is its own peak; it prints it.
    """
    started = time.perf_counter()
    proc = subprocess.run(
        ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, __file__, "--child", slug, fmt],
        stdout=subprocess.PIPE,
        env={**os.environ, "DJANGO_DEBUG": "0"},
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"export_study failed in the subprocess (exit {proc.returncode})")
    wall = time.perf_counter() - started
    report = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return report["seconds"], wall, report["max_rss_kb"] / 1024  # ru_maxrss is in KB on Linux


class NullSink:
    def __init__(self):
        self.bytes = 0

    def write(self, data):
        self.bytes += len(data)


def copy_sql(study_id: int, dimension_ids: dict[str, int]) -> list[tuple[str, str]]:
    """Two equivalent SQL queries for the CSV's columns (the faster one is the baseline)."""
    base = "r.source_id, r.title, r.url, r.framework, r.kind, si.screening, si.exclusion_reason"
    pivot = ", ".join(f'fl."{code}"' for code in dimension_ids)
    filters = ", ".join(
        f'max(value) FILTER (WHERE dimension_id = {pk}) AS "{code}"' for code, pk in dimension_ids.items()
    )
    dim_list = ", ".join(str(pk) for pk in dimension_ids.values())
    grouped = f"""
        SELECT {base}, {pivot}, coalesce(a.n, 0) AS n_annotations_complete
        FROM labelling_studyitem si JOIN triage_report r ON r.id = si.report_id
        LEFT JOIN (SELECT item_id, {filters} FROM labelling_finallabel
                   WHERE dimension_id IN ({dim_list}) GROUP BY item_id) fl ON fl.item_id = si.id
        LEFT JOIN (SELECT item_id, count(*) AS n FROM labelling_assignment
                   WHERE study_id = {study_id} AND completed_at IS NOT NULL GROUP BY item_id) a ON a.item_id = si.id
        WHERE si.study_id = {study_id} ORDER BY si.id"""
    correlated_dims = ", ".join(
        f'(SELECT value FROM labelling_finallabel f WHERE f.item_id = si.id AND f.dimension_id = {pk}) AS "{code}"'
        for code, pk in dimension_ids.items()
    )
    correlated = f"""
        SELECT {base}, {correlated_dims},
               (SELECT count(*) FROM labelling_assignment a
                WHERE a.item_id = si.id AND a.completed_at IS NOT NULL) AS n_annotations_complete
        FROM labelling_studyitem si JOIN triage_report r ON r.id = si.report_id
        WHERE si.study_id = {study_id} ORDER BY si.id"""
    return [("grouped joins", grouped), ("correlated subqueries", correlated)]


def time_copy(sql: str, repeat: int) -> tuple[float, int]:
    from django.db import connection

    best, size = float("inf"), 0
    with connection.cursor() as cur:
        for _ in range(repeat):
            sink = NullSink()
            started = time.perf_counter()
            cur.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)", sink)
            best = min(best, time.perf_counter() - started)
            size = sink.bytes
    return best, size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 items (e.g. 0.1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure; the best is kept")
    args = parser.parse_args()
    items = max(10, int(100_000 * args.scale))

    setup_django(DB_URL)
    from benchmarks._dataset import labelled_study_announced

    built = labelled_study_announced(items=items, db_url=DB_URL)

    copies = [(name, *time_copy(sql, args.repeat)) for name, sql in copy_sql(built.study_id, built.dimension_ids)]
    copy_name, copy_s, copy_bytes = min(copies, key=lambda c: c[1])
    copy_rate = built.items / copy_s

    results = {}
    for fmt in ("csv", "jsonl"):
        runs = [run_child(built.slug, fmt) for _ in range(args.repeat)]
        results[fmt] = (min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs))
    csv_s, csv_wall, csv_mb = results["csv"]
    jsonl_s, jsonl_wall, jsonl_mb = results["jsonl"]
    csv_rate, jsonl_rate = built.items / csv_s, built.items / jsonl_s

    print_table(
        f"export: {built.items:,} items, {built.annotations:,} annotations, {built.final_labels:,} final labels",
        [
            (
                f"COPY TO STDOUT ({copy_name})",
                f"{copy_rate:,.0f} rows/s",
                "baseline",
                f"{copy_s:.2f}s, {copy_bytes / 1e6:.1f} MB",
                None,
            ),
            (
                "export_study --format csv",
                f"{csv_rate:,.0f} rows/s",
                f">= {TARGET_RATIO:.0%} of COPY",
                f"{csv_rate / copy_rate:.0%} of COPY ({csv_s:.2f}s)",
                csv_rate / copy_rate >= TARGET_RATIO,
            ),
            ("export_study csv peak RSS", f"{csv_mb:.0f} MB", f"< {TARGET_MB} MB", "whole process", csv_mb < TARGET_MB),
            (
                "export_study --format jsonl",
                f"{jsonl_rate:,.0f} rows/s",
                "-",
                f"{jsonl_rate / copy_rate:.0%} of COPY ({jsonl_s:.2f}s)",
                None,
            ),
            (
                "export_study jsonl peak RSS",
                f"{jsonl_mb:.0f} MB",
                f"< {TARGET_MB} MB",
                "whole process",
                jsonl_mb < TARGET_MB,
            ),
        ],  # fmt: skip
    )
    for name, seconds, _ in copies:
        print(f"  COPY with {name}: {seconds:.2f}s")
    print(
        f"  whole export_study processes, Django start-up included: csv {csv_wall:.2f}s "
        f"({built.items / csv_wall:,.0f} rows/s), jsonl {jsonl_wall:.2f}s"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
