"""Export benchmark: `export_study` on a 100,000-item study against PostgreSQL's own COPY.

Builds (or reuses) a study with 100,000 items, 3 annotators, 4 dimensions, 1.2 million
annotations and final labels for most items (benchmarks/_dataset.py, with COPY), then:

* runs `export_study <slug> --format csv|jsonl --output /dev/null` (call_command) in a
  SUBPROCESS, timing the export itself (not Django's start-up) and reading that process's
  own peak RSS (getrusage RUSAGE_SELF in the process; see run_child for why not RUSAGE_CHILDREN);
* times `COPY (<the same columns in SQL>) TO STDOUT WITH (FORMAT csv)` into a null sink, before the
  exports and again after each CSV export run (the machine may be shared: the best COPY is the baseline).

With --sqlite, the same study is copied (table by table, the same rows and ids) into a SQLite file
migrated by the app (BENCH_SQLITE_DIR, default /tmp/bugsift-bench-export-sqlite-<items>, reused when it
holds the study; ANALYZE run after the copy, as after the app's bulk imports), and the same
`export_study` runs are timed there.

Targets: CSV rows/s at least 50% of COPY's (issue 18), peak memory below 150 MB, and on SQLite at
most twice the PostgreSQL export's time.
Usage: .venv/bin/python benchmarks/bench_export.py [--scale 0.1] [--repeat 3] [--sqlite]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_dat.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._table import print_table, setup_django  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_dat")
TARGET_RATIO = 0.5  # issue 18: the CSV export at least half as fast as PostgreSQL COPY of the same rows
TARGET_MB = 150


def child(slug: str, fmt: str, db: str):
    """Run in the subprocess: set Django up, then time the export command alone.

    ``db``: ``postgresql`` (BENCH_DATABASE_URL) or the folder of a SQLite database (BUGSIFT_VAR_DIR)."""
    if db == "postgresql":
        os.environ["DATABASE_URL"] = DB_URL
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["BUGSIFT_VAR_DIR"] = db
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


def run_child(slug: str, fmt: str, db: str = "postgresql") -> tuple[float, float, float]:
    """(seconds for the export, seconds for the whole process, peak RSS of the export process in MB).

    The export runs in a grandchild started by a shell: a process forked straight from this
    (large) one inherits its resident-set high-water mark through fork + exec, so its own
    ``ru_maxrss`` would report this process's memory. Forked from the small shell, the
    grandchild's ``getrusage(RUSAGE_SELF).ru_maxrss`` is its own peak; it prints it.
    """
    started = time.perf_counter()
    proc = subprocess.run(
        ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, __file__, "--child", slug, fmt, db],
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


# The tables the wide CSV and JSONL exports read, copied to SQLite in this order.
SQLITE_TABLES = (
    "auth_user",
    "triage_report",
    "labelling_study",
    "labelling_codebook",
    "labelling_dimension",
    "labelling_category",
    "labelling_membership",
    "labelling_studyitem",
    "labelling_assignment",
    "labelling_annotation",
    "labelling_finallabel",
)


def _sqlite_value(value):
    """A PostgreSQL value as Django's SQLite backend stores it (datetimes as naive UTC text)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value.isoformat(" ")
    if isinstance(value, (datetime.date, decimal.Decimal)):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def sqlite_copy(slug: str, items: int) -> str:
    """The folder of a SQLite database holding the benchmark study (built from PostgreSQL once)."""
    folder = os.environ.get("BENCH_SQLITE_DIR", f"/tmp/bugsift-bench-export-sqlite-{items}")
    path = Path(folder) / "bugsift.sqlite3"
    if path.exists():
        with sqlite3.connect(path) as db:
            found = db.execute(
                "SELECT count(*) FROM labelling_studyitem si JOIN labelling_study s ON s.id = si.study_id"
                " WHERE s.slug = ?",
                [slug],
            ).fetchone()[0]
        if found == items:
            print(f"reusing the SQLite copy in {folder}", flush=True)
            return folder
        path.unlink()
    Path(folder).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parent.parent / "manage.py"), "migrate", "-v", "0"],
        env={**env, "BUGSIFT_VAR_DIR": folder, "DJANGO_DEBUG": "1"},
        check=True,
    )
    from django.db import connection, transaction

    with sqlite3.connect(path) as db, transaction.atomic():  # a named (server-side) cursor needs one
        for table in SQLITE_TABLES:
            columns = [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]
            quoted = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" * len(columns))
            with connection.connection.cursor(name=f"copy_{table}") as cur:  # server side, in batches
                cur.itersize = 20_000
                cur.execute(f'SELECT {quoted} FROM "{table}" ORDER BY 1')
                db.executemany(
                    f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})',
                    (tuple(map(_sqlite_value, row)) for row in cur),
                )
        db.execute("ANALYZE")
    print(f"  copied to SQLite in {time.perf_counter() - started:.0f}s ({folder})", flush=True)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 items (e.g. 0.1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure; the best is kept")
    parser.add_argument("--sqlite", action="store_true", help="also export from a SQLite copy of the study")
    args = parser.parse_args()
    items = max(10, int(100_000 * args.scale))

    setup_django(DB_URL)
    from benchmarks._dataset import labelled_study_announced

    built = labelled_study_announced(items=items, db_url=DB_URL)

    queries = copy_sql(built.study_id, built.dimension_ids)
    copies = [(name, *time_copy(sql, args.repeat)) for name, sql in queries]
    copy_name, copy_s, copy_bytes = min(copies, key=lambda c: c[1])

    results = {}
    for fmt in ("csv", "jsonl"):
        runs = []
        for _ in range(args.repeat):
            runs.append(run_child(built.slug, fmt))
            if fmt == "csv":  # COPY again beside each CSV run (the same load); the best COPY is the baseline
                copy_s = min(copy_s, time_copy(dict(queries)[copy_name], 1)[0])
        results[fmt] = (min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs))
    copy_rate = built.items / copy_s
    if args.sqlite:
        folder = sqlite_copy(built.slug, built.items)
        for fmt in ("csv", "jsonl"):
            runs = [run_child(built.slug, fmt, folder) for _ in range(args.repeat)]
            results[f"sqlite-{fmt}"] = (min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs))
    csv_s, csv_wall, csv_mb = results["csv"]
    jsonl_s, jsonl_wall, jsonl_mb = results["jsonl"]
    csv_rate, jsonl_rate = built.items / csv_s, built.items / jsonl_s

    sqlite_rows = []
    for fmt, pg_s in (("csv", csv_s), ("jsonl", jsonl_s)):
        if f"sqlite-{fmt}" not in results:
            continue
        sq_s, _, sq_mb = results[f"sqlite-{fmt}"]
        sqlite_rows += [
            (
                f"export_study --format {fmt} on SQLite",
                f"{built.items / sq_s:,.0f} rows/s",
                "<= 2x PostgreSQL's time" if fmt == "csv" else "-",
                f"{sq_s:.2f}s, {sq_s / pg_s:.2f}x PostgreSQL's time",
                sq_s <= 2 * pg_s if fmt == "csv" else None,
            ),
            (f"  {fmt} peak RSS, SQLite", f"{sq_mb:.0f} MB", f"< {TARGET_MB} MB", "whole process", sq_mb < TARGET_MB),
        ]
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
        ]  # fmt: skip
        + sqlite_rows,
    )
    for name, seconds, _ in copies:
        print(f"  COPY with {name}: {seconds:.2f}s")
    print(
        f"  whole export_study processes, Django start-up included: csv {csv_wall:.2f}s "
        f"({built.items / csv_wall:,.0f} rows/s), jsonl {jsonl_wall:.2f}s"
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
