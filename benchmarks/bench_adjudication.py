"""Adjudication benchmark: the Adjudicate queue's next item and its 'remaining' count at 100,000 items.

Reuses bench_labelling's study (100,000 items, 3 annotators, k=3, 4 dimensions, 1.2 million
annotations, about one annotator in five disagreeing; built or reused in PostgreSQL by
``bench_labelling.build``) and times, in this process (no HTTP):

* the old way, once: every disagreement of the study listed (``disagreements_for`` without a
  limit), which the queue did on every request to pick one and count them;
* ``adjudication_next_for`` from the start and after random items (the usual request);
* ``disagreement_count``: the bounded read of the recorded disagreements behind 'remaining',
  capped at 1,000 ("1000+"), not cached.

Prints p50 / p99. No target is asserted.

Usage: .venv/bin/python benchmarks/bench_adjudication.py [--scale 0.1] [--requests 50]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_lab.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_labelling as lab  # noqa: E402
from _table import print_table  # noqa: E402


def _ms(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 100,000 items (default 1)")
    parser.add_argument("--requests", type=int, default=50, help="calls a measure (default 50)")
    args = parser.parse_args(argv)
    n = args.requests
    items = max(100, int(100_000 * args.scale))
    open_items = min(items, max(int(items * 0.05), 2 * n + 10))
    lab.ensure_study(items=items, open_items=open_items)

    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    from labelling.models import Study, StudyItem
    from labelling.selectors.adjudication import adjudication_next_for
    from labelling.selectors.labelling import DISAGREEMENT_COUNT_CAP, disagreement_count, disagreements_for

    study = Study.objects.get(slug=lab.SLUG)
    owner = get_user_model().objects.get(username=lab.OWNER)
    ids = list(StudyItem.objects.filter(study=study).order_by("id").values_list("id", flat=True))
    rng = random.Random(1)
    sizes = lab.counts()

    cache.clear()
    started = time.perf_counter()
    every = disagreements_for(study=study)
    old_ms = (time.perf_counter() - started) * 1000
    cache.clear()
    count = disagreement_count(study=study)
    assert count == min(len(every), DISAGREEMENT_COUNT_CAP + 1), (count, len(every))

    adjudication_next_for(study=study, user=owner)  # warm
    first = [_ms(lambda: adjudication_next_for(study=study, user=owner)) for _ in range(n)]
    after = [_ms(lambda: adjudication_next_for(study=study, user=owner, after=rng.choice(ids))) for _ in range(n)]

    def uncached():
        cache.clear()
        disagreement_count(study=study)

    counted = [_ms(uncached) for _ in range(max(5, n // 10))]
    rows = [
        (f"old: every disagreement listed ({len(every):,}), once", f"{old_ms:,.0f} ms", "-", "per request before", None)
    ]
    for name, timings in (
        ("next: adjudication_next_for from the start", first),
        ("next: adjudication_next_for after a random item", after),
        (f"remaining: disagreement_count (capped at {DISAGREEMENT_COUNT_CAP}+), uncached", counted),
    ):
        p50, p99 = lab.percentile(timings, 50), lab.percentile(timings, 99)
        rows.append((f"{name} p50 / p99 (n={len(timings)})", f"{p50:.1f} / {p99:.1f} ms", "-", "", None))
    print_table(
        f"Adjudicate queue ({sizes['items']:,} items, {sizes['annotations']:,} annotations, "
        f"{len(every):,} disagreements)",
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
