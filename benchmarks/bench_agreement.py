"""Agreement benchmark: the whole study's agreement figures on 100,000 items, 1.2 million annotations.

Builds (or reuses) the labelled study of benchmarks/_dataset.py (100,000 items, 3 annotators,
4 dimensions: two single choice, one multiple choice, one free text, every annotator on every
item: 1.2 million annotations, of which the 900,000 on the three choice dimensions are analysed),
then times ``study_agreement`` (what the page, the API, the command and the export call): one
aggregated query for all dimensions, every coefficient, Cohen's kappa for every pair, per-category
kappas, and the bootstrap intervals with 1,000 resamples each. Also timed apart: loading the
labels alone (the SQL part).

Target: the whole study in under 2 s.
Usage: .venv/bin/python benchmarks/bench_agreement.py [--scale 0.1] [--repeat 3] [--resamples 1000]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_dat.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._table import print_table, setup_django  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_dat")
TARGET_SECONDS = 2.0


def best_of(repeat: int, fn, clock=time.perf_counter):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = clock()
        result = fn()
        best = min(best, clock() - started)
    return best, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100,000 items (e.g. 0.1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure; the best is kept")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per interval")
    args = parser.parse_args()
    items = max(10, int(100_000 * args.scale))

    setup_django(DB_URL)
    from benchmarks._dataset import labelled_study_announced

    built = labelled_study_announced(items=items, db_url=DB_URL)

    from labelling.agreement.ratings import dimensions_ratings
    from labelling.agreement.selectors import LEVELS, study_agreement
    from labelling.models import Study
    from labelling.selectors.labelling import codebook_for_labelling

    study = Study.objects.get(slug=built.slug)
    entries = [e for e in codebook_for_labelling(study=study) if e.dimension.kind in LEVELS]

    def load():
        specs = [(e.dimension, LEVELS[e.dimension.kind], [c.code for c in e.categories]) for e in entries]
        return list(dimensions_ratings(specs).values())

    load_s, ratings = best_of(args.repeat, load)
    labels = sum(len(r.item_idx) for r in ratings)
    total_s, result = best_of(args.repeat, lambda: study_agreement(study=study, resamples=args.resamples))
    no_boot_s, _ = best_of(args.repeat, lambda: study_agreement(study=study, resamples=0))
    cpu_s, _ = best_of(args.repeat, lambda: study_agreement(study=study, resamples=args.resamples), time.process_time)
    load_avg = os.getloadavg()[0]

    rows = [
        (
            "study_agreement (all dimensions)",
            f"{total_s:.2f} s",
            f"< {TARGET_SECONDS:.0f} s",
            f"{total_s / TARGET_SECONDS:.0%} of the target",
            total_s < TARGET_SECONDS,
        ),
        ("  loading the labels (one aggregated SQL query)", f"{load_s:.2f} s", "-", f"{labels:,} labels", None),
        ("  without bootstrap intervals", f"{no_boot_s:.2f} s", "-", "resamples=0", None),
        ("  CPU time of this process (no SQL)", f"{cpu_s:.2f} s", "-", f"load average {load_avg:.1f}", None),
        ("  bootstrap intervals", f"{max(total_s - no_boot_s, 0):.2f} s", "-", f"{args.resamples} resamples", None),
    ]
    print_table(
        f"agreement: {built.items:,} items, {built.annotations:,} annotations, {len(entries)} choice dimensions",
        rows,
    )
    for d in result["dimensions"]:
        if d.get("skipped"):
            print(f"  {d['code']}: skipped ({d['level']})")
            continue
        print(
            f"  {d['code']} ({d['level']}): {d['items']:,} items, {d['labels']:,} labels, "
            f"Fleiss {d['fleiss_kappa']['value']:.3f} {d['fleiss_kappa']['ci95']}, "
            f"alpha {d['krippendorff_alpha']['value']:.3f} {d['krippendorff_alpha']['ci95']}, "
            f"AC1 {d['gwet_ac1']['value']:.3f}"
        )


if __name__ == "__main__":
    main()
