"""Surveys benchmark: answering the largest generated survey, by the JSON API and by the pages.

Makes (or remakes) a study from the "DL framework bugs" template and a survey generated from all
its dimensions (53 sections of a Likert matrix of 3 rows, a yes/no and a comment: 159 questions),
opens it and makes invitations. Then, in process (Django's test client, no network), it times:

* POST /api/surveys/respond/TOKEN/ with consent and every answer, submitted (the whole survey);
* POST of one section's form on the respondent's page (save and next), on a saved response;
* GET of a section page.

Prints p50 / p99 of each. Targets: p99 < 150 ms for the whole survey in one submit, < 50 ms for a
section save or page.
Usage: .venv/bin/python benchmarks/bench_surveys.py [--responses 200]
Database: BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/bugsift_bench_sur.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._table import print_table, setup_django  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bugsift_bench_sur")
TARGETS_MS = {"submit": 150, "section": 50, "page": 50}
SLUG = "bench-survey"


def _p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=200, help="respondents per measure")
    args = parser.parse_args()
    setup_django(DB_URL)
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    from labelling.models import Study
    from surveys.generation import definition_from_codebook
    from surveys.models import Survey
    from surveys.services import invitations_make, survey_create, survey_open
    from surveys.validation import questions_of

    Survey.objects.filter(slug=SLUG).delete()
    Study.objects.filter(slug=SLUG).delete()
    owner, _ = get_user_model().objects.get_or_create(username="bench-survey-owner")
    from labelling.services.studies import study_create

    study = study_create(slug=SLUG, name="Survey benchmark", owner=owner, template_slug="dl-framework-bugs")
    dimensions = list(study.codebook.dimensions.exclude(kind="text").values_list("code", flat=True))
    survey = survey_create(
        study=study,
        slug=SLUG,
        definition=definition_from_codebook(study=study, dimensions=dimensions),
        created_by=owner,
    )
    survey = survey_open(survey=survey, user=owner)
    definition = survey.current_version.definition
    questions = questions_of(definition)
    answers = {}
    for q in questions:
        if q["kind"] == "matrix":
            answers[q["code"]] = {r["code"]: 4 for r in q["rows"]}
        elif q["kind"] == "single":
            answers[q["code"]] = "Yes"
        elif q["kind"] == "likert":
            answers[q["code"]] = 3
        else:
            answers[q["code"]] = "A comment."
    n = args.responses
    tokens = [m.token for m in invitations_make(survey=survey, count=2 * n, batch="bench")]
    client = Client()
    submit, section, page = [], [], []
    for token in tokens[:n]:
        started = time.perf_counter()
        r = client.post(
            f"/api/surveys/respond/{token}/",
            {"consent": True, "answers": answers, "submit": True},
            content_type="application/json",
        )
        submit.append(time.perf_counter() - started)
        assert r.status_code == 200, r.content[:300]
    first = definition["sections"][0]["questions"]
    form = {f"q:{first[0]['code']}:{row['code']}": "4" for row in first[0]["rows"]}
    form.update({f"q:{first[1]['code']}": "Yes", f"q:{first[2]['code']}": "ok", "action": "next"})
    for token in tokens[n:]:
        client.post(f"/s/{token}/", {"consent": "yes"})
        started = time.perf_counter()
        r = client.post(f"/s/{token}/1/", form)
        section.append(time.perf_counter() - started)
        assert r.status_code == 302, r.status_code
        started = time.perf_counter()
        r = client.get(f"/s/{token}/2/")
        page.append(time.perf_counter() - started)
        assert r.status_code == 200
    rows = []
    for name, label, values in (
        ("submit", f"API: submit the whole survey ({len(questions)} questions)", submit),
        ("section", "page: save a section and go to the next", section),
        ("page", "page: GET a section", page),
    ):
        p99 = _p(values, 0.99)
        rows.append((label, f"p50 {_p(values, 0.5):.1f} ms, p99 {p99:.1f} ms", f"p99 < {TARGETS_MS[name]} ms",
                     f"mean {statistics.mean(values) * 1000:.1f} ms", p99 < TARGETS_MS[name]))  # fmt: skip
    print_table(
        f"surveys: {len(definition['sections'])} sections, {len(questions)} questions, {n} respondents each "
        f"(load average {os.getloadavg()[0]:.1f})",
        rows,
    )


if __name__ == "__main__":
    main()
