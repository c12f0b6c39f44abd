"""Release benchmark: `release` of a 100,000-item study beside the plain `export_study` CSV.

Builds (or reuses) the export benchmark's study (benchmarks/_dataset.py: 100,000 items, 3
annotators, 4 dimensions, 1.2 million annotations, final labels for most items), then in a
SUBPROCESS each (as bench_export.py does, for an honest peak RSS of that process alone):

* `export_study <slug> --format csv --output /dev/null` (the plain export, for comparison);
* `release <slug> --version X --no-figures` (the whole package but the analytics charts: CSV +
  Parquet of items and labels, adjudications, agreement with bootstrap CIs, card, checksums,
  frictionless self-check, zip), a first release and then a second one (which also computes the
  changes since the first from the two packages' Parquet files); with --figures, a third with
  the charts (their time is the analytics app's queries, see bench_analytics.py).

Targets: a release in < 60 s with a peak memory < 300 MB.
Usage: .venv/bin/python benchmarks/bench_release.py [--scale 0.1]
Database: BENCH_RELEASE_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_release.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._table import print_table, setup_django  # noqa: E402

DB_URL = os.environ.get("BENCH_RELEASE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_release")
TARGET_SECONDS = 60
TARGET_MB = 300


def child(slug: str, what: str, media: str):
    """In the subprocess: set Django up, then time one command alone."""
    os.environ["DATABASE_URL"] = DB_URL
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret")
    os.environ.setdefault("BUGSIFT_FIELD_ENCRYPTION_KEY", "bmVuY2htYXJrLW9ubHktZW5jcnlwdGlvbi1rZXktMzI=")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.MEDIA_ROOT = media
    connection.ensure_connection()
    started, cpu_started = time.perf_counter(), time.process_time()
    if what == "export":
        call_command("export_study", slug, format="csv", output=os.devnull, verbosity=0)
    else:
        version, _, figures = what.partition("+")
        flags = [] if figures == "figures" else ["--no-figures"]
        call_command("release", slug, "--version", version, *flags, verbosity=0)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    report = {"seconds": seconds, "cpu_seconds": cpu, "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    print(json.dumps(report))


def run_child(slug: str, what: str, media: str) -> tuple[float, float, float]:
    """(seconds, peak RSS in MB, CPU seconds of the process) of one command, in a grandchild forked from a
    small shell (see bench_export). On a loaded machine the wall time is mostly waiting (for PostgreSQL,
    for a core): the process's own CPU time says what the release itself costs."""
    proc = subprocess.run(
        ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, __file__, "--child", slug, what, media],
        stdout=subprocess.PIPE,
        env={**os.environ, "DJANGO_DEBUG": "0"},
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed in the subprocess (exit {proc.returncode})")
    report = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return report["seconds"], report["max_rss_kb"] / 1024, report["cpu_seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 items (e.g. 0.1)")
    parser.add_argument("--figures", action="store_true", help="also time a release with the analytics charts")
    args = parser.parse_args()
    items = max(10, int(100_000 * args.scale))

    setup_django(DB_URL)
    from benchmarks._dataset import labelled_study_announced
    from labelling.releases.models import Release

    built = labelled_study_announced(items=items, db_url=DB_URL)
    Release.objects.filter(study_id=built.study_id).delete()

    with tempfile.TemporaryDirectory(prefix="bench-release-") as media:
        export_s, export_mb, export_cpu = run_child(built.slug, "export", media)
        first_s, first_mb, first_cpu = run_child(built.slug, "1.0.0", media)
        second_s, second_mb, second_cpu = run_child(built.slug, "1.0.1", media)
        figures = run_child(built.slug, "1.0.2+figures", media)[:2] if args.figures else None
        sizes = {r.version: r.size for r in Release.objects.filter(study_id=built.study_id)}
    Release.objects.filter(study_id=built.study_id).delete()

    print_table(
        f"release: {built.items:,} items, {built.annotations:,} annotations, {built.final_labels:,} final labels",
        [
            (
                "export_study --format csv",
                f"{export_s:.1f}s",
                "baseline",
                f"{export_mb:.0f} MB peak RSS; CPU {export_cpu:.1f}s",
                None,
            ),
            (
                "release 1.0.0 (first)",
                f"{first_s:.1f}s",
                f"< {TARGET_SECONDS}s",
                f"{first_s / export_s:.1f}x the export; CPU {first_cpu:.1f}s; zip {sizes.get('1.0.0', 0) / 1e6:.1f} MB",
                first_s < TARGET_SECONDS,
            ),
            (
                "release 1.0.0 peak RSS",
                f"{first_mb:.0f} MB",
                f"< {TARGET_MB} MB",
                "whole process",
                first_mb < TARGET_MB,
            ),
            (
                "release 1.0.1 (with changes)",
                f"{second_s:.1f}s",
                f"< {TARGET_SECONDS}s",
                f"diff against 1.0.0's Parquet; CPU {second_cpu:.1f}s",
                second_s < TARGET_SECONDS,
            ),
            (
                "release 1.0.1 peak RSS",
                f"{second_mb:.0f} MB",
                f"< {TARGET_MB} MB",
                "whole process",
                second_mb < TARGET_MB,
            ),
            *(
                [
                    ("release 1.0.2 with figures", f"{figures[0]:.1f}s", "-", "analytics charts included", None),
                    ("release 1.0.2 peak RSS", f"{figures[1]:.0f} MB", f"< {TARGET_MB} MB", "", figures[1] < TARGET_MB),
                ]
                if figures
                else []
            ),
        ],
    )
    print("  releases 1.0.0 and 1.0.1 leave the analytics charts out (--no-figures): their cost is the analytics")
    print("  app's chart queries (benchmarks/bench_analytics.py); --figures times a release with them.")
    print(f"  load average: {Path('/proc/loadavg').read_text().split(' ', 3)[:3]}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
