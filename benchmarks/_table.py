"""Shared helpers for benchmark scripts: a results table and PostgreSQL set-up."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BENCH_DB = "postgres://postgres@127.0.0.1:5432/bugsift_bench"


def setup_django(db_url: str | None = None):
    """Point Django at the benchmark database (PostgreSQL) and set it up."""
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = db_url or os.environ.get("BENCH_DATABASE_URL", DEFAULT_BENCH_DB)
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret")
    os.environ.setdefault("BUGSIFT_FIELD_ENCRYPTION_KEY", "bmVuY2htYXJrLW9ubHktZW5jcnlwdGlvbi1rZXktMzI=")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    _ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _ensure_database(url: str):
    import psycopg2
    from psycopg2 import sql

    base, _, name = url.rpartition("/")
    conn = psycopg2.connect(base + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()


def print_table(title: str, rows: list[tuple]):
    """rows: (measure, value, target, ratio-or-note, met: bool|None)."""
    print(f"\n## {title}")
    header = ("measure", "value", "target", "ratio / baseline", "met")
    table = [header] + [
        (str(a), str(b), str(c), str(d), {True: "yes", False: "NO", None: "-"}[e]) for a, b, c, d, e in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) + " |")
        if i == 0:
            print("|-" + "-|-".join("-" * w for w in widths) + "-|")
    sys.stdout.flush()


def print_grid(title: str, header: tuple, rows: list[tuple]):
    """A table with any columns, in the same Markdown style as print_table."""
    print(f"\n## {title}")
    table = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) + " |")
        if i == 0:
            print("|-" + "-|-".join("-" * w for w in widths) + "-|")
    sys.stdout.flush()
