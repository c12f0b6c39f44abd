"""Analytics benchmark: the study Analytics page and each chart's query on 100,000 items, 1.2 million annotations.

Builds (or reuses) the labelled study of benchmarks/_dataset.py (100,000 items over four
frameworks, 3 annotators, 4 dimensions: two single choice, one multiple choice, one free text;
1.2 million annotations; final labels on most items), then times:

* the Analytics page as its owner (GET /studies/SLUG/analytics/ through the whole Django stack,
  in process: every chart drawn on the page, its figure and its table rendered; the agreement and
  time-spent charts are deferred: loaded by the page after it is shown), cold (the study's cached
  results dropped first: a new results token, as after any save), alone and with its deferred
  charts; then warm (the results cached), p50 / p99 over ``--warm-requests`` requests;
* each chart's data and figure (``build_chart``), one aggregate query each, unfiltered and with
  ``framework=pytorch``, final labels and every annotator's labels;
* the floor: the plain ``COUNT(*)`` of the rows each kind of chart reads (the study's final labels,
  its annotations, its items), which no GROUP BY over them can beat.

Target: the page in under 1 s.
Usage: .venv/bin/python benchmarks/bench_analytics.py [--scale 0.1] [--repeat 3]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_analytics.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._table import print_table, setup_django  # noqa: E402
from benchmarks.bench_agreement import best_of  # noqa: E402
from benchmarks.bench_labelling import percentile  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_analytics")
TARGET_SECONDS = 1.0
WARM_TARGET_MS = 50


def results_pages(client, study, *, requests: int, repeat: int, cold) -> list[tuple]:
    """The study overview and the Agreement page (HTML) and the agreement API: cold (a new results
    token and an empty cache before each) and warm (p50 / p99 of ``requests``)."""
    rows = []
    for name, path in (
        ("study overview: GET /studies/<slug>/", f"/studies/{study.slug}/"),
        ("Agreement page: GET /studies/<slug>/agreement/", f"/studies/{study.slug}/agreement/"),
        ("agreement API: GET /api/studies/<slug>/agreement/", f"/api/studies/{study.slug}/agreement/"),
    ):

        def get(path=path):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        cold_s, _ = best_of(repeat, cold(get))
        get()
        warm = []
        for _ in range(requests):
            started = time.perf_counter()
            get()
            warm.append((time.perf_counter() - started) * 1000)
        p99 = percentile(warm, 99)
        rows.append((f"{name} cold", f"{cold_s * 1000:.0f} ms", "-", "cache empty, new results token", None))
        rows.append((f"  warm p50 / p99 (n={len(warm)})", f"{percentile(warm, 50):.1f} / {p99:.1f} ms",
                     f"p99 < {WARM_TARGET_MS} ms", "", p99 < WARM_TARGET_MS))  # fmt: skip
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 items (e.g. 0.1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure; the best is kept")
    parser.add_argument("--warm-requests", type=int, default=50, help="requests of the warm page measures")
    args = parser.parse_args()
    items = max(10, int(100_000 * args.scale))

    setup_django(DB_URL)
    from django.test import Client
    from django.test.utils import setup_test_environment

    from benchmarks._dataset import labelled_study_announced

    built = labelled_study_announced(items=items, db_url=DB_URL)

    from django.contrib.auth import get_user_model

    from labelling.analytics import ChartFilters, chart_ids
    from labelling.analytics.charts import Codebook
    from labelling.models import Annotation, FinalLabel, Study, StudyItem

    setup_test_environment()  # 'testserver' in ALLOWED_HOSTS for the in-process client
    study = Study.objects.get(slug=built.slug)
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench_owner"))
    url = f"/studies/{study.slug}/analytics/"

    def page(query=""):
        response = client.get(url + query)
        assert response.status_code == 200, response.status_code
        return len(response.content)

    from django.core.cache import cache

    from labelling.analytics.catalogue import _build_chart
    from labelling.services.results import study_results_changed
    from labelling.views.analytics import DEFERRED

    def cold(call):
        """``call`` with the study's cached results gone (a new results token, as after a save)."""

        def run():
            study_results_changed(study_ids=[study.pk])
            cache.clear()
            return call()

        return run

    def page_and_deferred(query=""):
        """The page, then its deferred charts as the page loads them (their own pages)."""
        size = page(query)
        for chart_id in DEFERRED:
            response = client.get(f"/studies/{study.slug}/analytics/charts/{chart_id}/{query}")
            assert response.status_code == 200, (chart_id, response.status_code)
        return size

    page()  # warm: imports, the codebook cache, PostgreSQL's buffers
    page_s, size = best_of(args.repeat, cold(page))
    filtered_s, _ = best_of(args.repeat, cold(lambda: page("?framework=pytorch")))
    annotators_s, _ = best_of(args.repeat, cold(lambda: page("?labels=annotators")))
    full_s, _ = best_of(args.repeat, cold(page_and_deferred))
    page_and_deferred()  # fills the cache
    warm = []
    for _ in range(args.warm_requests):
        started = time.perf_counter()
        page_and_deferred()
        warm.append((time.perf_counter() - started) * 1000)
    warm_page = []
    for _ in range(args.warm_requests):
        started = time.perf_counter()
        page()
        warm_page.append((time.perf_counter() - started) * 1000)
    other_pages = results_pages(client, study, requests=args.warm_requests, repeat=args.repeat, cold=cold)

    floors = {
        "final labels": best_of(args.repeat, lambda: FinalLabel.objects.filter(item__study=study).count()),
        "annotations": best_of(args.repeat, lambda: Annotation.objects.filter(item__study=study).count()),
        "items": best_of(args.repeat, lambda: StudyItem.objects.filter(study=study).count()),
    }
    rows = [
        ("Analytics page (owner)", f"{page_s * 1000:.0f} ms", f"< {TARGET_SECONDS:.0f} s",
         f"{page_s / TARGET_SECONDS:.0%} of the target; {size / 1024:.0f} KiB", page_s < TARGET_SECONDS),
        ("  with framework=pytorch", f"{filtered_s * 1000:.0f} ms", f"< {TARGET_SECONDS:.0f} s", "",
         filtered_s < TARGET_SECONDS),
        ("  with labels=annotators", f"{annotators_s * 1000:.0f} ms", f"< {TARGET_SECONDS:.0f} s", "",
         annotators_s < TARGET_SECONDS),
        ("cold page + its deferred charts (cache empty)", f"{full_s * 1000:.0f} ms", f"< {TARGET_SECONDS:.0f} s",
         f"charts loaded after the page: {', '.join(DEFERRED)}", full_s < TARGET_SECONDS),
        (f"warm page p50 / p99 (n={len(warm_page)})", f"{percentile(warm_page, 50):.1f} / "
         f"{percentile(warm_page, 99):.1f} ms", f"p99 < {WARM_TARGET_MS} ms", "results cached, same version",
         percentile(warm_page, 99) < WARM_TARGET_MS),
        (f"warm page + deferred charts p50 / p99 (n={len(warm)})", f"{percentile(warm, 50):.1f} / "
         f"{percentile(warm, 99):.1f} ms", "-", "three requests", None),
    ]  # fmt: skip
    rows += other_pages
    for what, (seconds, n) in floors.items():
        rows.append((f"floor: COUNT(*) of the study's {what}", f"{seconds * 1000:.0f} ms", "-", f"{n:,} rows", None))

    codebook = Codebook(study)
    ids = chart_ids(codebook) + ["crosstab.symptom.root_cause", "crosstab.root_cause.label", "crosstab.symptom.verdict"]
    floor_of = {
        **dict.fromkeys(("distribution", "crosstab", "sankey"), "final labels"),
        **dict.fromkeys(("agreement", "progress"), "annotations"),
        **dict.fromkeys(("funnel", "reproduction"), "items"),
    }
    for labels in ("final", "annotators"):
        filters = ChartFilters(labels=labels)
        for chart_id in ids:
            kind = chart_id.partition(".")[0]
            if labels == "annotators" and kind not in ("distribution", "crosstab", "sankey"):
                continue

            def build(i=chart_id, f=filters):  # computed, not cached: what a cache miss costs
                return _build_chart(study=study, chart_id=i, filters=f, codebook=codebook)

            seconds, _ = best_of(args.repeat, cold(build))  # the agreement chart reads cached figures else
            floor = "annotations" if labels == "annotators" else floor_of[kind]
            ratio = seconds / floors[floor][0] if floors[floor][0] else 0
            rows.append((f"  {chart_id}" + (" (labels=annotators)" if labels == "annotators" else ""),
                         f"{seconds * 1000:.0f} ms", "-", f"{ratio:.1f}x COUNT(*) of the {floor}", None))  # fmt: skip
    pytorch = ChartFilters(frameworks=("pytorch",))
    for chart_id in ("distribution.root_cause", "crosstab.root_cause.framework", "agreement"):
        seconds, _ = best_of(
            args.repeat, cold(lambda i=chart_id: _build_chart(study=study, chart_id=i, filters=pytorch, codebook=None))
        )
        rows.append((f"  {chart_id} (framework=pytorch)", f"{seconds * 1000:.0f} ms", "-", "", None))
    print_table(
        f"analytics: {built.items:,} items, {built.annotations:,} annotations, {built.final_labels:,} final labels "
        f"(load average {os.getloadavg()[0]:.1f})",
        rows,
    )


if __name__ == "__main__":
    main()
