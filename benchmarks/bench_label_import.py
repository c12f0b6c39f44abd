"""Label import: `manage.py import_labels` of 100,000 reports x 3 annotators x 4 dimensions (1.2M labels).

The workload is `make bench-compare`'s (benchmarks/_compare_workload.py: the reports of bench_import,
the `dl-framework-bugs` codebook, about four in five annotators agreeing, seeded), without its Label
Studio files. Into a fresh database each run: `import_reports` (not timed here: bench_import is its
benchmark), `create_study`, three annotators, then `import_labels` as a whole process (Django's
start-up included, as bench-compare times it), its time and peak RSS read by /usr/bin/time.

Targets (issue 18): at least 10x Label Studio's import of the same tasks, which bench-compare measured
at 369-714 tasks/s on this machine kind, so >= 7,140 tasks/s (a task = a report with its 12 labels),
and peak memory < 300 MB.

Usage: .venv/bin/python benchmarks/bench_label_import.py [--scale 0.1] [--sqlite]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_labimp (dropped
and created again); with --sqlite also on SQLite (a file in a temporary folder), for the SQLite/PostgreSQL
ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _compare_workload as workload  # noqa: E402
from _server import BENCH_ENCRYPTION_KEY  # noqa: E402
from _table import print_table  # noqa: E402
from bench_import import write_file  # noqa: E402
from compare import timed_command  # noqa: E402

ROOT = HERE.parent
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_labimp")
SLUG = "bench-label-import"
LABEL_STUDIO_BEST = 714  # tasks/s, bench-compare on this machine kind (issue 18)
TARGET_RATE = 10 * LABEL_STUDIO_BEST
TARGET_MB = 300


def write_labels(reports: Path, labels: Path, *, seed: int) -> int:
    """bench-compare's label file for ``reports`` (every report labelled by the three annotators)."""
    dimensions = workload.codebook()
    rng = random.Random(seed + 1)
    written = 0
    with reports.open(encoding="utf-8") as source, labels.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["source_id", "annotator", "dimension", "value"])
        for line in source:
            source_id = json.loads(line)["source_id"]
            for code, categories in dimensions:
                agreed = rng.choice(categories)
                for rater in workload.ANNOTATORS:
                    value = agreed if rng.random() < workload.AGREEMENT else rng.choice(categories)
                    writer.writerow([source_id, rater, code, value])
                    written += 1
    return written


def fresh_postgres() -> None:
    import psycopg2
    from psycopg2 import sql

    base, _, name = DB_URL.rpartition("/")
    conn = psycopg2.connect(base + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()


def run(env: dict, reports: Path, labels: Path) -> tuple[float, float, str]:
    python = str(ROOT / ".venv" / "bin" / "python")

    def manage(*args):
        return timed_command([python, "manage.py", *args], env=env, cwd=ROOT)

    manage("migrate", "--noinput", "-v", "0")
    manage("import_reports", str(reports))
    names = json.dumps(list(workload.ANNOTATORS))
    manage(
        "shell",
        "-c",
        "import json\nfrom django.contrib.auth import get_user_model\nfrom labelling.models import Membership\n"
        "owner = get_user_model().objects.create_superuser('bench_li_owner', 'o@bench.localhost', 'x')\n"
        "users = [get_user_model().objects.create_user(n) for n in json.loads(" + repr(names) + ")]\n",
    )
    manage("create_study", SLUG, "--template", workload.TEMPLATE_SLUG, "--owner", "bench_li_owner", "--k", "3")
    manage(
        "shell",
        "-c",
        "import json\nfrom django.contrib.auth import get_user_model\nfrom labelling.models import Membership, Study\n"
        f"study = Study.objects.get(slug={SLUG!r})\n"
        "for n in json.loads(" + repr(names) + "):\n"
        "    Membership.objects.create(study=study, user=get_user_model().objects.get(username=n), role='annotator')\n",
    )
    seconds, peak_mb, out = manage("import_labels", "--study", SLUG, str(labels))
    return seconds, peak_mb, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 reports (default 1)")
    parser.add_argument("--sqlite", action="store_true", help="also import into SQLite (the ratio to PostgreSQL)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    items = max(100, int(100_000 * args.scale))

    base_env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")},
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "benchmark-only-secret-" + "x" * 40,
        "BUGSIFT_FIELD_ENCRYPTION_KEY": BENCH_ENCRYPTION_KEY,
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        reports, labels = Path(tmp) / "reports.jsonl", Path(tmp) / "labels.csv"
        started = time.perf_counter()
        write_file(reports, items, seed=args.seed)
        n_labels = write_labels(reports, labels, seed=args.seed)
        print(f"workload: {items:,} reports, {n_labels:,} labels ({time.perf_counter() - started:.0f}s)", flush=True)

        fresh_postgres()
        pg_s, pg_mb, out = run({**base_env, "DATABASE_URL": DB_URL}, reports, labels)
        print("  PostgreSQL:", " | ".join(line.strip() for line in out.splitlines()[1:5]), flush=True)
        rate = items / pg_s
        rows += [
            (
                "import_labels on PostgreSQL (tasks/s)",
                f"{rate:,.0f}",
                f">= {TARGET_RATE:,}",
                f"{pg_s:.1f} s, {n_labels / pg_s:,.0f} labels/s, {rate / LABEL_STUDIO_BEST:.1f}x Label Studio",
                rate >= TARGET_RATE,
            ),
            ("  peak RSS, PostgreSQL", f"{pg_mb:.0f} MB", f"< {TARGET_MB} MB", "whole process", pg_mb < TARGET_MB),
        ]
        if args.sqlite:
            var = Path(tmp) / "sqlite-var"
            sq_s, sq_mb, _ = run({**base_env, "BUGSIFT_VAR_DIR": str(var)}, reports, labels)
            rows += [
                (
                    "import_labels on SQLite (tasks/s)",
                    f"{items / sq_s:,.0f}",
                    "<= 2x PostgreSQL's time",
                    f"{sq_s:.1f} s, {sq_s / pg_s:.2f}x PostgreSQL's time",
                    sq_s <= 2 * pg_s,
                ),
                ("  peak RSS, SQLite", f"{sq_mb:.0f} MB", f"< {TARGET_MB} MB", "whole process", sq_mb < TARGET_MB),
            ]
    print_table(f"Label import, {items:,} reports x 3 annotators x 4 dimensions ({n_labels:,} labels)", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
