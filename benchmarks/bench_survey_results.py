"""Survey results benchmark: 10,000 responses to a generated-style survey (20 category sections,
each a 3-row Likert matrix, a yes/no and a comment; 1.0 million answers at full scale).

Builds (or reuses) the survey through the import service (``survey_responses_import``, one
transaction), then times what the results page, API and command compute: ``results_for`` (SQL
aggregates), the wide CSV and the long CSV of every response (read in chunks), and the import
itself when it builds.

Targets: results in under 1 s, the wide CSV in under 10 s, at 10,000 responses.
Usage: .venv/bin/python benchmarks/bench_survey_results.py [--scale 0.1] [--repeat 3]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_survey.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._table import print_table, setup_django  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_survey")
SECTIONS = 20
ROWS = ("clear", "relevant", "hard")


def definition() -> dict:
    sections = []
    for s in range(SECTIONS):
        code = f"cat{s:02d}"
        sections.append({"title": f"Category {s}", "questions": [
            {"code": code, "kind": "matrix", "text": "Agree?", "min": 1, "max": 5, "category": f"effect/{code}",
             "rows": [{"code": r, "text": r} for r in ROWS]},
            {"code": f"{code}_met", "kind": "single", "text": "Met one?", "options": ["Yes", "No"]},
            {"code": f"{code}_comment", "kind": "text", "text": "Comment", "long": True},
        ]})  # fmt: skip
    return {"title": "Benchmark survey", "sections": sections}


def raw_csv(responses: int) -> str:
    rng = random.Random(7)
    out = io.StringIO()
    header = ["submitted"]
    for s in range(SECTIONS):
        header += [*(f"cat{s:02d}.{r}" for r in ROWS), f"cat{s:02d}_met", f"cat{s:02d}_comment"]
    writer = csv.writer(out)
    writer.writerow(header)
    for i in range(responses):
        row = [f"2026-11-{1 + i % 28:02d}"]
        for _ in range(SECTIONS):
            row += [rng.randint(1, 5) for _ in ROWS] + [rng.choice(["Yes", "No"])]
            row.append("a comment" if rng.random() < 0.1 else "")
        writer.writerow(row)
    return out.getvalue()


def best_of(repeat, fn):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 10,000 responses")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    responses = max(10, int(10_000 * args.scale))
    setup_django(DB_URL)

    from labelling.models import Study
    from surveys.exports import long_rows, wide_rows
    from surveys.models import Answer, Survey
    from surveys.response_import_services import survey_responses_import
    from surveys.results_selectors import response_records, results_for
    from surveys.services import survey_create, survey_open

    slug = f"bench-survey-{responses}"
    survey = Survey.objects.filter(slug=slug).first()
    import_s = None
    if survey is None:
        study = Study.objects.create(slug=slug, name=slug)
        survey = survey_open(survey=survey_create(study=study, slug=slug, definition=definition(), created_by=None),
                             user=None)  # fmt: skip
        text = raw_csv(responses)
        started = time.perf_counter()
        survey_responses_import(survey=survey, source=io.BytesIO(text.encode()))
        import_s = time.perf_counter() - started
    answers = Answer.objects.filter(response__survey=survey).count()
    definition_doc = survey.current_version.definition

    results_s, _ = best_of(args.repeat, lambda: results_for(survey=survey))
    wide_s, _ = best_of(args.repeat, lambda: sum(1 for _ in wide_rows(definition_doc, response_records(survey=survey))))
    long_s, _ = best_of(1, lambda: sum(1 for _ in long_rows(definition_doc, response_records(survey=survey))))
    full = responses >= 10_000
    rows = [
        ("results_for (SQL aggregates)", f"{results_s:.2f} s", "< 1 s", f"{answers:,} answers",
         results_s < 1 if full else None),
        ("wide CSV rows", f"{wide_s:.2f} s", "< 10 s", f"{responses:,} responses", wide_s < 10 if full else None),
        ("long CSV rows", f"{long_s:.2f} s", "-", f"{answers:,} answers", None),
    ]  # fmt: skip
    if import_s is not None:
        rows.append(("import (parse, check, store)", f"{import_s:.2f} s", "-", f"{responses:,} responses", None))
    print_table(f"Survey results, {responses:,} responses, load {os.getloadavg()[0]:.1f}", rows)


if __name__ == "__main__":
    main()
