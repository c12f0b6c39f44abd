"""Page benchmark: every page and call of the Label Studio comparison (`make bench-compare`), on gunicorn.

Reuses bench_labelling's study (100,000 items, 3 annotators, 4 choice dimensions, 1.2 million
annotations, an open slice for every annotator; built or reused in PostgreSQL by
``bench_labelling.build``), starts ``gunicorn config.wsgi -w 4`` (DJANGO_DEBUG=0) and, as
``make bench-compare`` does, sends ``--requests`` sequential requests a measure, each on a new
connection:

* GET /healthz/ (the trivial view: the baseline);
* GET /api/studies/<slug>/next-item/ (token);
* PUT /api/studies/<slug>/items/<id>/annotations/ with 4 choices (token);
* POST /studies/<slug>/label/<id>/ (the labelling form, session and CSRF; 302 to the next);
* GET /studies/<slug>/items/ (list page 1), GET /studies/<slug>/ (overview),
  GET /studies/<slug>/disagreements/ (and, in ``measure_disagreements_and_adjudication``, a deep
  page, one dimension, its API list and the adjudication queue's page and API);
* GET /api/studies/<slug>/export/?format=csv once: time, size and the serving worker's peak RSS;
* the lists (``measure_lists``): the study items API page 1 and a page deep in the list (by its
  cursor), the reports list (page and API) and the crash groups list (page and API, both sorts)
  over ``items / 5`` crash groups that ``ensure_crash_groups`` adds beside the study.

Prints p50 / p99 and the p50 as a multiple of the trivial view's. No targets are asserted here;
the comparison with Label Studio is `make bench-compare`.

Usage: .venv/bin/python benchmarks/bench_pages.py [--scale 0.1] [--requests 50]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_lab (shared
with bench_labelling, which it leaves as that script expects: the open slice is reset first).
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_labelling as lab  # noqa: E402
from _server import free_port, stop_gunicorn  # noqa: E402
from _table import print_table  # noqa: E402
from compare import Http, RssSampler, csrf_from, expect  # noqa: E402

CHOICES = {code: categories for code, _, _, categories in lab.DIMENSIONS}


def values(i: int) -> dict:
    return {
        "symptom": CHOICES["symptom"][i % 5],
        "root_cause": CHOICES["root_cause"][(i * 3) % 5],
        "component": [CHOICES["component"][i % 5]],
        "stage": CHOICES["stage"][(i + 1) % 5],
    }


def token_client(port: int, username: str) -> Http:
    answer = expect(
        Http(port).post_form("/api/auth/token/", {"username": username, "password": lab.PASSWORD}), 200, "token"
    )
    return Http(port, headers={"Authorization": f"Token {answer.json()['token']}"})


def browser(port: int, username: str) -> Http:
    client = Http(port)
    token = csrf_from(client.get("/accounts/login/").body)
    form = {"username": username, "password": lab.PASSWORD, "csrfmiddlewaretoken": token}
    if client.post_form("/accounts/login/", form).status != 302:
        raise SystemExit(f"could not log {username} in")
    return client


def measure_disagreements_and_adjudication(measure, owner: Http, owner_api: Http, slug: str) -> None:
    """The Disagreements list beyond page 1 and the adjudication queue (page and API), as the owner:
    a deep keyset page (after 90% of the items) and one dimension must cost what page 1 costs."""
    from labelling.models import StudyItem

    items = StudyItem.objects.filter(study__slug=slug).order_by("id").values_list("id", flat=True)
    after = items[int(items.count() * 0.9)]
    page = f"/studies/{slug}/disagreements/"
    for name, client, path in (
        ("disagreements, deep page: GET ...?after=<90% of the items>", owner, f"{page}?after={after}"),
        ("disagreements, one dimension: GET ...?dimension=stage", owner, f"{page}?dimension=stage"),
        ("disagreements API: GET /api/.../disagreements/", owner_api, f"/api{page}"),
        ("adjudication queue: GET /studies/<slug>/adjudicate/", owner, f"/studies/{slug}/adjudicate/"),
        ("adjudication API: GET /api/.../adjudication/next/", owner_api, f"/api/studies/{slug}/adjudication/next/"),
    ):
        measure(name, lambda i, client=client, path=path: expect(client.get(path), 200, path).ms)


def ensure_crash_groups(*, groups: int) -> None:
    """``groups`` crash groups (each a crash Report, one occurrence), written by SQL beside the
    study; kept when already there. Occurrence counts and last-seen times repeat (ties for the sorts)."""
    import psycopg2
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM triage_crashgroup WHERE signature LIKE 'bench%%'")
        if cur.fetchone()[0] == groups:
            return
        print(f"adding {groups:,} crash groups ...", flush=True)
        cur.execute("DELETE FROM triage_crashoccurrence WHERE signature LIKE 'bench%%'")
        cur.execute("DELETE FROM triage_crashgroup WHERE signature LIKE 'bench%%'")
        cur.execute("DELETE FROM triage_report WHERE source_id LIKE 'crash:bench%%'")
        cur.execute(
            """
            INSERT INTO triage_report (source_id, kind, framework, title, body, url, state, created_at, raw,
                                       content_hash, imported_at, updated_at)
            SELECT 'crash:bench' || lpad(g::text, 59, '0'), 'crash',
                   (ARRAY['pytorch','tensorflow','jax','mxnet'])[1 + g %% 4],
                   'RuntimeError in conv2d_backward (bench ' || g || ')', 'Traceback (most recent call last): ...',
                   '', 'open', now() - ((g %% 997) || ' minutes')::interval, '{}', '', now(), now()
            FROM generate_series(1, %s) AS g
            """,
            [groups],
        )
        cur.execute(
            """
            INSERT INTO triage_crashgroup (report_id, signature, signature_text, crash_type, framework, api, oracle,
                                           from_message, occurrence_count, first_seen, last_seen, versions_seen,
                                           devices_seen, fuzzers_seen, smallest_reproducer)
            SELECT r.id, substr(r.source_id, 7), 'RuntimeError\nconv2d_backward\nat::native::conv', 'RuntimeError',
                   r.framework, 'torch.nn.functional.conv2d', (ARRAY['crash','exception','nan'])[1 + r.id %% 3],
                   false, 1 + (r.id * 7919) %% 40, r.created_at - interval '1 day', r.created_at,
                   '["2.1.0"]', '["cpu"]', '["freefuzz"]', 'import torch'
            FROM triage_report r WHERE r.source_id LIKE 'crash:bench%%'
            """,
            [],
        )
        cur.execute(
            """
            INSERT INTO triage_crashoccurrence (group_id, client_id, fuzzer, framework, framework_version, api, device,
                                                oracle, message, stack_trace, reproducer, signature, kept_frames,
                                                created_at, received_at, extra)
            SELECT g.id, g.signature, 'freefuzz', g.framework, '2.1.0', g.api, 'cpu', g.oracle, 'boom', '', '',
                   g.signature, '[]', g.last_seen, now(), '{}'
            FROM triage_crashgroup g WHERE g.signature LIKE 'bench%%'
            """,
            [],
        )
    conn = psycopg2.connect(lab.DB_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE triage_report, triage_crashgroup, triage_crashoccurrence")
    conn.close()


def measure_lists(*, port: int, owner: Http, owner_api: Http, measure) -> None:
    """Rows for the long lists (issue 18: p99 < 50 ms at 100k, flat in N): page 1 of each, and a
    page in the middle of the study items list, by its cursor (the same cost as page 1)."""
    from config.keyset import keyset_page
    from labelling.models import Study
    from labelling.selectors.studies import items_for_study

    slug = lab.SLUG
    items = items_for_study(study=Study.objects.get(slug=slug))
    middle = items.order_by("id").values_list("id", flat=True)[items.count() // 2]
    cursor = keyset_page(items.filter(id__gte=middle), cursor=None, size=1).next_cursor  # the list's own cursor
    deep = urllib.parse.urlencode({"cursor": cursor})
    for name, client, path in (
        ("items API page 1: GET /api/studies/<slug>/items/", owner_api, f"/api/studies/{slug}/items/"),
        ("items list, middle page: GET /studies/<slug>/items/?cursor=", owner, f"/studies/{slug}/items/?{deep}"),
        ("reports list page 1: GET /reports/", owner, "/reports/"),
        ("reports list, filtered: GET /reports/?framework=jax", owner, "/reports/?framework=jax"),
        ("reports API page 1: GET /api/reports/", owner_api, "/api/reports/"),
        ("crashes list page 1: GET /reports/crashes/", owner, "/reports/crashes/"),
        ("crashes list, recent: GET /reports/crashes/?sort=recent", owner, "/reports/crashes/?sort=recent"),
        ("crashes API page 1: GET /api/crash-groups/", owner_api, "/api/crash-groups/"),
    ):
        measure(name, lambda i, client=client, path=path: expect(client.get(path), 200, path).ms)


def worker_pids(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def results_pages(owner: Http, slug: str, n: int, results: dict, *, cold_requests: int = 3) -> None:
    """The pages of cached study results (helper pagesfast): the overview, the Agreement page and
    its API, the Analytics page and its deferred agreement chart, warm (``n`` requests, the study's
    results cached in the shared cache) and cold (``cold_requests``, each after a new results token:
    what the first reader after a save waits for)."""
    from labelling.models import Study
    from labelling.services.results import study_results_changed

    study_id = Study.objects.get(slug=slug).pk
    pages = (
        ("study overview", f"/studies/{slug}/"),
        ("Agreement page", f"/studies/{slug}/agreement/"),
        ("agreement API", f"/api/studies/{slug}/agreement/"),
        ("Analytics page", f"/studies/{slug}/analytics/"),
        ("Analytics: agreement chart (deferred)", f"/studies/{slug}/analytics/charts/agreement/"),
    )
    for name, path in pages:
        expect(owner.get(path), 200, path)  # fills the cache
        results[f"{name} warm: GET {path}"] = [expect(owner.get(path), 200, path).ms for _ in range(n)]

    def cold(path):
        study_results_changed(study_ids=[study_id])
        return expect(owner.get(path), 200, path).ms

    for name, path in pages:
        results[f"{name} cold: GET {path}"] = [cold(path) for _ in range(cold_requests)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 100,000 items (default 1)")
    parser.add_argument("--requests", type=int, default=50, help="sequential requests a measure (default 50)")
    args = parser.parse_args(argv)
    n = args.requests
    items = max(100, int(100_000 * args.scale))
    open_items = min(items, max(int(items * 0.05), 2 * n + 10))

    lab.ensure_study(items=items, open_items=open_items)
    ensure_crash_groups(groups=items // 5)
    sizes = lab.counts()
    from django.db import connections

    connections.close_all()

    port = free_port()
    server = lab.start_gunicorn(port)
    slug, results, export = lab.SLUG, {}, {}
    try:
        api = token_client(port, lab.ANNOTATORS[0])
        form_user = browser(port, lab.ANNOTATORS[1])
        owner = browser(port, lab.OWNER)
        owner_api = token_client(port, lab.OWNER)
        for _ in range(8):  # warm every worker
            api.get(f"/api/studies/{slug}/next-item/")
            owner.get(f"/studies/{slug}/items/")

        def measure(name, call):
            results[name] = [call(i) for i in range(n)]

        measure("GET /healthz/ (trivial view)", lambda i: expect(Http(port).get("/healthz/"), 200, "healthz").ms)
        measure(
            "next task: GET /api/.../next-item/",
            lambda i: expect(api.get(f"/api/studies/{slug}/next-item/"), 200, "next-item").ms,
        )

        def save_api(i):
            item = expect(api.get(f"/api/studies/{slug}/next-item/"), 200, "next-item").json()["item"]
            put = api.send_json(
                "PUT",
                f"/api/studies/{slug}/items/{item}/annotations/",
                {"values": values(i), "time_spent_ms": 15000 + i},
            )
            return expect(put, 200, "save (API)").ms

        def save_form(i):
            start = expect(form_user.get(f"/studies/{slug}/label/"), 302, "label redirect")
            path = urllib.parse.urlsplit(start.headers["Location"]).path
            page = expect(form_user.get(path), 200, "labelling page")
            form = {"csrfmiddlewaretoken": csrf_from(page.body), "time_spent_ms": str(15000 + i)}
            form.update({f"value-{code}": value for code, value in values(i + 1).items()})
            form.update({f"note-{code}": "" for code in CHOICES})
            return expect(form_user.post_form(path, form), 302, "save (form)").ms

        measure("save 4 choices: PUT /api/.../annotations/", save_api)
        measure("save 4 choices: POST /label/<item>/ (form)", save_form)
        for name, path in (
            ("list page 1: GET /studies/<slug>/items/", f"/studies/{slug}/items/"),
            ("study overview: GET /studies/<slug>/", f"/studies/{slug}/"),
            ("disagreements: GET /studies/<slug>/disagreements/", f"/studies/{slug}/disagreements/"),
        ):
            measure(name, lambda i, path=path: expect(owner.get(path), 200, path).ms)
        results_pages(owner, slug, n, results)
        measure_disagreements_and_adjudication(measure, owner, owner_api, slug)
        measure_lists(port=port, owner=owner, owner_api=owner_api, measure=measure)

        size = [0]
        samplers = [RssSampler(pid) for pid in worker_pids(server.pid)]
        for s in samplers:
            s.__enter__()
        started = time.perf_counter()
        answer = owner_api.get(
            f"/api/studies/{slug}/export/?format=csv", sink=lambda chunk: size.__setitem__(0, size[0] + len(chunk))
        )
        export["seconds"] = time.perf_counter() - started
        for s in samplers:
            s.__exit__(None, None, None)
        expect(answer, 200, "export")
        export["bytes"] = size[0]
        growth = max(samplers, key=lambda s: s.peak - s.baseline) if samplers else None
        export["peak"] = (growth.peak, growth.baseline) if growth else (float("nan"), float("nan"))
    finally:
        stop_gunicorn(server)

    base = lab.percentile(results["GET /healthz/ (trivial view)"], 50)
    rows = []
    for name, timings in results.items():
        p50, p99 = lab.percentile(timings, 50), lab.percentile(timings, 99)
        note = "baseline" if name.startswith("GET /healthz/") else f"p50 {p50 / base:.1f}x trivial"
        rows.append((f"{name} p50 / p99 (n={len(timings)})", f"{p50:.1f} / {p99:.1f} ms", "-", note, None))
    peak, baseline = export["peak"]
    rows.append(
        (
            "export CSV: GET /api/.../export/?format=csv",
            f"{export['seconds']:.2f} s",
            "-",
            f"{sizes['items'] / export['seconds']:,.0f} items/s, {export['bytes'] / 1e6:.1f} MB",
            None,
        )
    )
    rows.append(("  export: serving worker's peak RSS", f"{peak:.0f} MB", "-", f"{baseline:.0f} MB before", None))
    print_table(
        f"Pages of the comparison on gunicorn -w 4, {n} sequential requests a measure, a new connection each "
        f"({sizes['items']:,} items, {sizes['annotations']:,} annotations)",
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
