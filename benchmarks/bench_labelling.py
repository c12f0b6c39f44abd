"""Labelling benchmark: the labelling page and the save under 4 concurrent annotators, on gunicorn.

Builds (or reuses) in PostgreSQL one study of 100,000 reports, 3 annotators, k=3, 4 dimensions
of 5 categories, with 1.2 million annotations (every annotator, every dimension) and their
completed assignments and unanimous final labels for most items; a slice of items at the end
is left open for all three annotators so there is work to do. Rows are generated inside
PostgreSQL (``INSERT ... SELECT generate_series``), which is faster than COPY from Python.

Then starts ``gunicorn config.wsgi -w 4`` (DJANGO_DEBUG=0) on a free port, logs 4 clients in
(annotators a, b, c, a; session cookie + CSRF, standard library only) and measures, with the 4
clients running at once:

* GET /healthz/ (trivial view, the baseline);
* GET /studies/<slug>/label/ (the redirect to the next item) and GET of the item page it names;
* POST of the labelling form (save, complete the assignment, refresh final labels, redirect);
* GET /healthz/ once per round of those three, i.e. the trivial view under the same load.

Prints p50 / p99 of each and the ratio of p99 to the trivial view's p99 (measured alone, the
strict baseline the targets use; in brackets, to the trivial view measured in the same mix).
Targets: p99 < 50 ms and p99 < 3x the trivial view's p99.

Usage: .venv/bin/python benchmarks/bench_labelling.py [--scale 0.1] [--requests 2000] [--rebuild]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_lab.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _server  # noqa: E402
from benchmarks._table import print_table, setup_django  # noqa: E402

WORKERS = os.environ.get("BENCH_WORKERS", "4")
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_lab")
SLUG = "bench-labelling"
PASSWORD = "bench-password-123"
ANNOTATORS = ("bench_lab_a", "bench_lab_b", "bench_lab_c")
OWNER = "bench_lab_owner"
DIMENSIONS = [
    ("symptom", "Symptom", "single", ["crash", "hang", "wrong_output", "performance", "build_failure"]),
    ("root_cause", "Root cause", "single", ["type_issue", "shape_issue", "api_misuse", "numerical", "algorithm"]),
    ("component", "Component", "multi", ["layers", "model", "optimizer", "data", "backend"]),
    ("stage", "Stage", "ordinal", ["install", "preprocess", "train", "deploy", "utility"]),
]
CLIENTS = 4
TARGET_MS = 50.0
TARGET_RATIO = 3.0
BODY = (
    "### Describe the bug\\n`torch.nn.functional.conv2d` returns a tensor of the wrong shape when "
    "`padding=''same''` and `stride=2` on CUDA; on CPU it raises.\\n\\n```python\\nimport torch\\n"
    "x = torch.randn(8, 3, 32, 32)\\nw = torch.randn(4, 3, 3, 3)\\nprint(torch.nn.functional.conv2d(x, w, "
    "padding=''same''))\\n```\\n\\n### Expected\\nThe output shape (8, 4, 32, 32), as documented.\\n\\n"
    "| version | result |\\n|---|---|\\n| 2.1 | ok |\\n| 2.2 | wrong |\\n"
)


# --- data -----------------------------------------------------------------------------------------


def existing_size() -> int | None:
    """Items of the benchmark study in the benchmark database, or None when there is none (or when
    a build stopped half-way, before its annotations)."""
    import psycopg2

    try:
        conn = psycopg2.connect(DB_URL)
    except psycopg2.OperationalError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM labelling_studyitem si JOIN labelling_study s ON s.id = si.study_id "
                "WHERE s.slug = %s",
                [SLUG],
            )
            items = cur.fetchone()[0]
            # A finished build has 4 annotations per completed assignment, far more than items; a
            # build that stopped before them has none (or the few an earlier run's saves wrote).
            cur.execute("SELECT count(*) FROM labelling_annotation")
            return items if cur.fetchone()[0] >= items else None
    except psycopg2.Error:
        return None
    finally:
        conn.close()


def drop_database():
    import psycopg2
    from psycopg2 import sql

    base, _, name = DB_URL.rpartition("/")
    conn = psycopg2.connect(base + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()


def build(*, items: int, open_items: int) -> dict:
    """Create the study (fresh database). Returns ids and sizes."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from labelling.models import Category, Codebook, Dimension, Membership, Study

    User = get_user_model()
    started = time.perf_counter()
    with transaction.atomic():
        owner = User.objects.create_user(OWNER, password=PASSWORD)
        annotators = [User.objects.create_user(name, password=PASSWORD) for name in ANNOTATORS]
        study = Study.objects.create(slug=SLUG, name="Labelling benchmark", overlap_k=3, created_by=owner)
        codebook = Codebook.objects.create(study=study, name="Benchmark codebook")
        Membership.objects.create(study=study, user=owner, role=Membership.Role.OWNER)
        for user in annotators:
            Membership.objects.create(study=study, user=user, role=Membership.Role.ANNOTATOR)
        for order, (code, name, kind, categories) in enumerate(DIMENSIONS):
            dimension = Dimension.objects.create(
                codebook=codebook, code=code, name=name, kind=kind, order=order,
                max_choices=2 if kind == "multi" else None, description=f"What {name.lower()} the report shows.",
            )  # fmt: skip
            Category.objects.bulk_create(
                Category(dimension=dimension, code=c, name=c.replace("_", " ").capitalize(), order=i,
                         shortcut=str(i + 1), definition=f"The {c.replace('_', ' ')} case.", example=f"e.g. {c}")
                for i, c in enumerate(categories)
            )  # fmt: skip
    first_open = items - open_items + 1  # items numbered 1..items; the last ``open_items`` are open
    study_id = study.id
    ann_ids = [a.id for a in annotators]
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO triage_report (source_id, kind, framework, title, body, url, state, created_at, raw,
                                       content_hash, imported_at, updated_at)
            SELECT 'bench-lab:pytorch/pytorch#' || g, 'issue',
                   (ARRAY['pytorch','tensorflow','keras','mxnet'])[1 + g %% 4],
                   'conv2d returns the wrong shape with padding=''same'' (benchmark ' || g || ')',
                   E'{BODY}', 'https://github.com/pytorch/pytorch/issues/' || g, 'closed',
                   now() - (g || ' minutes')::interval, '{{}}', '', now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [items],
        )
        cur.execute(
            """
            INSERT INTO labelling_studyitem (study_id, report_id, screening, exclusion_reason, added_at,
                                             needs_review, review_reason, screening_method, screening_conflict)
            SELECT %s, r.id, 'included', '', now(), false, '', '', false
            FROM triage_report r WHERE r.source_id LIKE 'bench-lab:%%' ORDER BY r.id
            """,
            [study_id],
        )
        # Assignments in item order, the three annotators of an item next to each other (as
        # assignments_make creates them); completed except for the open slice at the end.
        cur.execute(
            """
            INSERT INTO labelling_assignment (study_id, item_id, annotator_id, created_at, completed_at)
            SELECT %s, si.id, a.annotator_id, now(),
                   CASE WHEN si.rn >= %s THEN NULL ELSE now() END
            FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM labelling_studyitem WHERE study_id = %s) si
            CROSS JOIN unnest(%s::int[]) WITH ORDINALITY AS a(annotator_id, o)
            ORDER BY si.id, a.o
            """,
            [study_id, first_open, study_id, ann_ids],
        )
        # Annotations for every completed assignment: 4 per assignment. Mostly agreeing values;
        # about one annotator in five picks another category.
        cur.execute(
            """
            INSERT INTO labelling_annotation (item_id, annotator_id, dimension_id, value, note, time_spent_ms,
                                              created_at, updated_at)
            SELECT a.item_id, a.annotator_id, d.id,
                   (SELECT c.code FROM labelling_category c WHERE c.dimension_id = d.id
                    ORDER BY c."order" OFFSET ((a.item_id * 7 + d.id
                        + CASE WHEN (a.item_id + a.annotator_id) %% 5 = 0 THEN a.annotator_id ELSE 0 END) %% 5)
                    LIMIT 1),
                   '', 20000 + (a.item_id %% 40000), now(), now()
            FROM labelling_assignment a
            CROSS JOIN labelling_dimension d
            WHERE a.study_id = %s AND a.completed_at IS NOT NULL AND d.codebook_id = %s
            """,
            [study_id, codebook.id],
        )
        cur.execute(
            """
            INSERT INTO labelling_finallabel (item_id, dimension_id, value, method, rationale, decided_at)
            SELECT an.item_id, an.dimension_id, min(an.value), 'unanimous', '', now()
            FROM labelling_annotation an JOIN labelling_studyitem si ON si.id = an.item_id
            WHERE si.study_id = %s
            GROUP BY an.item_id, an.dimension_id
            HAVING count(DISTINCT an.value) = 1 AND count(*) >= 3
            """,
            [study_id],
        )
    _disagreements_record(study_id)
    _vacuum()
    return {"seconds": time.perf_counter() - started}


def ensure_study(*, items: int, open_items: int) -> None:
    """Set Django up on the benchmark database with the study of ``items`` items: built afresh when
    the database holds another size, else reused with its open slice reset."""
    if existing_size() != items:
        drop_database()
        setup_django(DB_URL)
        print(f"building the study: {items:,} items, {open_items:,} open ...", flush=True)
        build(items=items, open_items=open_items)
    else:
        setup_django(DB_URL)
        reset_open_slice(items=items, open_items=open_items)


def reset_open_slice(*, items: int, open_items: int):
    """Reopen the last ``open_items`` items (a re-run starts from the same state)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT id FROM labelling_study WHERE slug = %s", [SLUG])
        (study_id,) = cur.fetchone()
        cur.execute(
            "SELECT id FROM labelling_studyitem WHERE study_id = %s ORDER BY id OFFSET %s LIMIT 1",
            [study_id, items - open_items],
        )
        (first_open_id,) = cur.fetchone()
        cur.execute("DELETE FROM labelling_annotation WHERE item_id >= %s AND item_id IN "
                    "(SELECT id FROM labelling_studyitem WHERE study_id = %s)", [first_open_id, study_id])  # fmt: skip
        cur.execute("DELETE FROM labelling_finallabel WHERE item_id >= %s AND item_id IN "
                    "(SELECT id FROM labelling_studyitem WHERE study_id = %s)", [first_open_id, study_id])  # fmt: skip
        cur.execute("UPDATE labelling_assignment SET completed_at = NULL WHERE study_id = %s AND item_id >= %s",
                    [study_id, first_open_id])  # fmt: skip
        cur.execute("UPDATE labelling_assignment SET completed_at = now() WHERE study_id = %s AND item_id < %s "
                    "AND completed_at IS NULL RETURNING item_id", [study_id, first_open_id])  # fmt: skip
        completed = {row[0] for row in cur.fetchall()}
        cur.execute("SELECT id FROM labelling_studyitem WHERE study_id = %s AND id >= %s", [study_id, first_open_id])
        reopened = {row[0] for row in cur.fetchall()}
        cur.execute("DELETE FROM django_session")
    _disagreements_record(study_id, item_ids=completed | reopened)
    _vacuum()


def _disagreements_record(study_id: int, item_ids=None) -> None:
    """The rows above are written by SQL, not by the services: record the disagreements they make
    (of ``item_ids``, or of the whole study) as the services would (``disagreements_refresh``)."""
    from labelling.models import Study
    from labelling.services.disagreements import disagreements_refresh

    started = time.perf_counter()
    n = disagreements_refresh(study=Study.objects.get(pk=study_id), item_ids=item_ids)
    print(f"disagreements recorded: {n:,} ({time.perf_counter() - started:.1f} s)", flush=True)


def _vacuum():
    import psycopg2

    conn = psycopg2.connect(DB_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()


def counts() -> dict:
    from labelling.models import Annotation, Assignment, FinalLabel, StudyItem

    return {
        "items": StudyItem.objects.filter(study__slug=SLUG).count(),
        "annotations": Annotation.objects.filter(item__study__slug=SLUG).count(),
        "open assignments": Assignment.objects.filter(study__slug=SLUG, completed_at__isnull=True).count(),
        "final labels": FinalLabel.objects.filter(item__study__slug=SLUG).count(),
    }


def next_item_plan() -> str:
    """EXPLAIN ANALYZE of next_item_for's query (same filter and order) for the first annotator."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from labelling.models import Assignment, Study

    study = Study.objects.get(slug=SLUG)
    user = get_user_model().objects.get(username=ANNOTATORS[0])
    qs = (
        Assignment.objects.filter(study=study, annotator=user, completed_at__isnull=True)
        .select_related("item__report")
        .order_by("completed_at", "id")[:1]
    )
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        return "\n".join(row[0] for row in cur.fetchall())


# --- server -----------------------------------------------------------------------------------------


def start_gunicorn(port: int) -> subprocess.Popen:
    # As deployed (docs/deploy.md): one cache shared by the web processes.
    cache_url = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/15")
    return _server.start_gunicorn(port=port, db_url=DB_URL, workers=WORKERS, extra_env={"CACHE_URL": cache_url})


class Client:
    """A browser-like HTTP client: one connection, session and CSRF cookies."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, bytes, float]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://127.0.0.1:{self.port}{path}"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            started = time.perf_counter()
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        content = response.read()
        elapsed_ms = (time.perf_counter() - started) * 1000
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for key, morsel in cookie.items():
                self.cookies[key] = morsel.value
        if response.will_close:
            self.conn.close()
        return response.status, dict(response.getheaders()), content, elapsed_ms

    def login(self, username: str):
        status, _, content, _ = self.request("GET", "/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', content).group(1).decode()
        form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
        status, headers, _, _ = self.request("POST", "/accounts/login/", form)
        if status != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"could not log {username} in (status {status})")


# --- measuring -------------------------------------------------------------------------------------


def run_threads(target, clients: list[Client], per_client: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    lock = threading.Lock()
    errors: list[str] = []

    def work(client):
        local: dict[str, list[float]] = {}
        try:
            target(client, per_client, local)
        except Exception as exc:  # reported, the benchmark continues with what it has
            errors.append(repr(exc))
        with lock:
            for key, values in local.items():
                results.setdefault(key, []).extend(values)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("client errors:", *errors[:5], sep="\n  ")
    return results


def trivial(client: Client, n: int, out: dict):
    for _ in range(n):
        status, _, _, ms = client.request("GET", "/healthz/")
        assert status == 200, status
        out.setdefault("GET /healthz/ (trivial view)", []).append(ms)


LOADED_BASE = "GET /healthz/ (same mix, during labelling)"
CHOICES = {code: categories for code, _, _, categories in DIMENSIONS}


def labelling(client: Client, n: int, out: dict):
    """n rounds of: GET /label/ (redirect), GET the item page, POST the form."""
    for i in range(n):
        status, headers, _, ms = client.request("GET", f"/studies/{SLUG}/label/")
        out.setdefault("GET /label/ (redirect to next item)", []).append(ms)
        if status != 302:
            break  # this annotator is done
        item_path = urllib.parse.urlsplit(headers["Location"]).path
        status, _, content, ms = client.request("GET", item_path)
        assert status == 200, (status, item_path)
        out.setdefault("GET /label/<item>/ (labelling page)", []).append(ms)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', content).group(1).decode()
        form = {
            "csrfmiddlewaretoken": token,
            "time_spent_ms": str(15000 + i),
            "value-symptom": CHOICES["symptom"][i % 5],
            "value-root_cause": CHOICES["root_cause"][(i * 3) % 5],
            "value-component": [CHOICES["component"][i % 5], CHOICES["component"][(i + 2) % 5]],
            "value-stage": CHOICES["stage"][i % 3],
            "note-symptom": f"benchmark note {i}",
            "note-root_cause": "",
            "note-component": "",
            "note-stage": "",
        }
        status, headers, _, ms = client.request("POST", item_path, form)
        assert status == 302, (status, item_path)
        out.setdefault("POST /label/<item>/ (save & next)", []).append(ms)
        status, _, _, ms = client.request("GET", "/healthz/")
        out.setdefault(LOADED_BASE, []).append(ms)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 100,000 items (default 1)")
    parser.add_argument("--requests", type=int, default=2000, help="requests of each kind, over 4 clients")
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the benchmark database")
    parser.add_argument("--explain", action="store_true", help="print the next-item query plan")
    args = parser.parse_args(argv)

    items = max(100, int(100_000 * args.scale))
    per_client = max(1, args.requests // CLIENTS)
    # Two clients share annotator a: it needs 2 * per_client open items; keep 5% open at least.
    open_items = min(items, max(int(items * 0.05), 2 * per_client + 10))

    size = existing_size()
    if args.rebuild or size != items:
        drop_database()
        setup_django(DB_URL)
        print(f"building the study: {items:,} items, {open_items:,} open ...", flush=True)
        built = build(items=items, open_items=open_items)
        print(f"built in {built['seconds']:.0f} s", flush=True)
    else:
        setup_django(DB_URL)
        reset_open_slice(items=items, open_items=open_items)
    sizes = counts()
    print(", ".join(f"{k}: {v:,}" for k, v in sizes.items()), flush=True)
    if args.explain:
        print(next_item_plan())

    from django.db import connections

    connections.close_all()
    port = _server.free_port()
    server = start_gunicorn(port)
    try:
        clients = [Client(port) for _ in range(CLIENTS)]
        for client, name in zip(clients, (*ANNOTATORS, ANNOTATORS[0]), strict=True):
            client.login(name)
        # warm up every worker and connection
        run_threads(trivial, clients, 10)
        run_threads(lambda c, n, out: [c.request("GET", f"/studies/{SLUG}/label/") for _ in range(n)], clients, 5)

        results = run_threads(trivial, clients, per_client)
        results.update(run_threads(labelling, clients, per_client))
    finally:
        _server.stop_gunicorn(server)

    base_name = "GET /healthz/ (trivial view)"
    base_p99 = percentile(results[base_name], 99)
    loaded_p99 = percentile(results.get(LOADED_BASE, []), 99)
    rows = []
    for name, values in results.items():
        p50, p99 = percentile(values, 50), percentile(values, 99)
        ratio = p99 / base_p99 if base_p99 else float("nan")
        baseline = name in (base_name, LOADED_BASE)
        target = "baseline" if baseline else f"< {TARGET_MS:.0f} ms, < {TARGET_RATIO:.0f}x trivial"
        note = f"p99 {ratio:.2f}x" + ("" if baseline else f" ({p99 / loaded_p99:.2f}x loaded trivial)")
        met = None if baseline else (p99 < TARGET_MS and ratio < TARGET_RATIO)
        rows.append((f"{name} p50 / p99 (n={len(values)})", f"{p50:.1f} / {p99:.1f} ms", target, note, met))
        if not baseline:
            rows.append((f"  mean {name.split(' (')[0]}", f"{statistics.mean(values):.1f} ms", "", "", None))
    print_table(
        f"Labelling with {CLIENTS} concurrent clients on gunicorn -w 4 "
        f"({sizes['items']:,} items, {sizes['annotations']:,} annotations)",
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
