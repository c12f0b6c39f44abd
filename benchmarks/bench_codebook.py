"""Codebook evolution benchmark: rename, merge and split on a large study (PostgreSQL).

Builds a fresh study of N items (default 20,000), 2 annotators who finished every item, a
single-choice dimension of 6 categories and a multiple-choice one of 5, i.e. 4 x N annotations,
with unanimous final labels where the two agree; then times, each in its own transaction:

* the confirm step of a merge (rehearsed and rolled back);
* a rename of a category code (every value holding it rewritten, inside multiple-choice values);
* a merge of one category into another (values rewritten, decision rule run again on the items);
* a split of a category into two (annotations flagged, automatic final labels removed).

Target: each under 10 s at 20,000 items (about a sixth of the labels touched), so an owner can
change the codebook of a large study from the page without a background job.

Usage: .venv/bin/python benchmarks/bench_codebook.py [--items 20000]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_codebook.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._table import print_table, setup_django  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_codebook")
TARGET_S = 10.0
SYMPTOMS = ["crash", "hang", "wrong_output", "performance", "build_failure", "unreported"]
COMPONENTS = ["layers", "model", "optimizer", "data", "backend"]


def build(n: int):
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from labelling.models import Annotation, Assignment, Category, Dimension, Membership, Study, StudyItem
    from labelling.services.final_labels import final_labels_recompute
    from labelling.services.studies import study_create
    from triage.models import Report

    User = get_user_model()
    Study.objects.filter(slug="bench-codebook").delete()
    owner, _ = User.objects.get_or_create(username="bench_cb_owner", defaults={"is_staff": True})
    annotators = [User.objects.get_or_create(username=f"bench_cb_{x}")[0] for x in "ab"]
    study = study_create(slug="bench-codebook", name="Codebook benchmark", owner=owner)
    for a in annotators:
        Membership.objects.create(study=study, user=a, role=Membership.Role.ANNOTATOR)
    symptom = Dimension.objects.create(codebook=study.codebook, code="symptom", name="Symptom", order=1)
    component = Dimension.objects.create(
        codebook=study.codebook, code="component", name="Component", kind="multi", max_choices=2, order=2
    )
    for i, code in enumerate(SYMPTOMS):
        Category.objects.create(dimension=symptom, code=code, name=code.title(), order=i)
    for i, code in enumerate(COMPONENTS):
        Category.objects.create(dimension=component, code=code, name=code.title(), order=i)
    now = timezone.now()
    reports = Report.objects.bulk_create(
        [
            Report(source_id=f"bench:codebook#{i}", kind="issue", framework="pytorch", title=f"bug {i}", created_at=now)
            for i in range(n)
        ],
        batch_size=5000,
        update_conflicts=True,
        unique_fields=["source_id"],
        update_fields=["title"],
    )
    reports = list(Report.objects.filter(source_id__startswith="bench:codebook#").order_by("id")[:n])
    items = StudyItem.objects.bulk_create(
        [StudyItem(study=study, report=r, screening="included") for r in reports], batch_size=5000
    )
    Assignment.objects.bulk_create(
        [Assignment(study=study, item=i, annotator=a, completed_at=now) for i in items for a in annotators],
        batch_size=5000,
    )
    rows = []
    for k, item in enumerate(items):
        for j, a in enumerate(annotators):
            rows.append(
                Annotation(item=item, annotator=a, dimension=symptom, value=SYMPTOMS[(k + j * (k % 3 == 0)) % 6])
            )
            pair = sorted({COMPONENTS[k % 5], COMPONENTS[(k + j + 1) % 5]})
            rows.append(Annotation(item=item, annotator=a, dimension=component, value=";".join(pair)))
    Annotation.objects.bulk_create(rows, batch_size=5000)
    with transaction.atomic():
        final_labels_recompute(study=study, item_ids=[i.id for i in items])
    return study, symptom, component


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    args = parser.parse_args(argv)
    setup_django(DB_URL)
    from labelling import codebook_operations
    from labelling.models import Annotation, Category
    from labelling.services import codebook_evolution as evolution

    print(f"building {args.items} items ({4 * args.items} annotations) ...", flush=True)
    study, symptom, component = build(args.items)
    owner = study.created_by

    def cat(dimension, code):
        return Category.objects.get(dimension=dimension, code=code)

    rows = []
    plan = codebook_operations.plan("merge", cat(symptom, "hang"), {"target": "crash"})
    seconds, rehearsal = timed(lambda: codebook_operations.rehearse(plan, by=owner))
    rows.append(
        (
            "merge, confirm step (rehearsed)",
            f"{seconds:.2f} s",
            f"< {TARGET_S} s",
            f"{rehearsal['annotations_touched']} annotations",
            seconds < TARGET_S,
        )
    )
    seconds, event = timed(
        lambda: evolution.category_rename(category=cat(component, "layers"), code="zz_layers", by=owner)
    )
    rows.append(
        (
            "rename in multiple-choice values",
            f"{seconds:.2f} s",
            f"< {TARGET_S} s",
            f"{event.annotations_touched} annotations",
            seconds < TARGET_S,
        )
    )
    seconds, event = timed(
        lambda: evolution.categories_merge(source=cat(symptom, "hang"), target=cat(symptom, "crash"), by=owner)
    )
    rows.append(
        (
            "merge (+ decision rule again)",
            f"{seconds:.2f} s",
            f"< {TARGET_S} s",
            f"{event.annotations_touched} annotations, {event.final_labels_touched} final labels",
            seconds < TARGET_S,
        )
    )
    into = [{"code": "wrong_result", "name": "Wrong result"}, {"code": "wrong_structure", "name": "Wrong structure"}]
    seconds, event = timed(lambda: evolution.category_split(category=cat(symptom, "wrong_output"), into=into, by=owner))
    rows.append(
        (
            "split (flag + final labels)",
            f"{seconds:.2f} s",
            f"< {TARGET_S} s",
            f"{event.annotations_touched} flagged",
            seconds < TARGET_S,
        )
    )
    assert Annotation.objects.filter(item__study=study).count() == 4 * args.items
    print_table(f"codebook evolution, {args.items} items, {4 * args.items} annotations", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
