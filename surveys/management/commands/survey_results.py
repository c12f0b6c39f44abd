"""Print or save a survey's results or exports: `manage.py survey_results SLUG
[--format json|csv|numeric|long|categories|spss] [--header text] [--survey-version N] [--output FILE]`.

json is the results document of GET /api/surveys/SLUG/results/; the others are the exports of
GET /api/surveys/SLUG/export/?format=... (docs/surveys.md).
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from surveys import exports
from surveys.models import Survey
from surveys.results_selectors import (
    response_rate_by_batch,
    response_records,
    responses_per_day,
    results_definition,
    results_for,
)

FORMATS = ("json", "csv", "numeric", "long", "categories", "spss")


class Command(BaseCommand):
    help = "Per-question counts and percentages of a survey's submitted responses (json), or its CSV exports."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The survey's slug.")
        parser.add_argument("--format", choices=FORMATS, default="json", help="What to write (default json).")
        parser.add_argument(
            "--header",
            choices=("codes", "text"),
            default="codes",
            help="csv, numeric: 'text' adds a second header row with the question texts.",
        )
        parser.add_argument(
            "--survey-version",
            type=int,
            dest="survey_version",
            default=None,
            help="Only the responses to this version of the survey (default: every version).",
        )
        parser.add_argument("--output", "-o", default="-", help="File to write (default: standard output).")

    def handle(self, *args, slug, format, header, survey_version, output, **options):
        survey = Survey.objects.select_related("current_version").filter(slug=slug).first()
        if survey is None:
            raise CommandError(f"No survey '{slug}'. A study's Surveys page (or GET /api/surveys/) shows the slugs.")
        try:
            definition, chosen = results_definition(survey=survey, version=survey_version)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115
        try:
            if format == "json":
                document = results_for(survey=survey, version=survey_version)
                document["batches"] = response_rate_by_batch(survey=survey)
                document["per_day"] = responses_per_day(survey=survey)
                out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
            elif format == "spss":
                out.write(exports.spss_syntax(definition, filename=f"{survey.slug}.numeric.csv"))
            elif format == "categories":
                exports.write_csv(
                    exports.category_rows(definition, results_for(survey=survey, version=survey_version)), out
                )
            elif format == "long":
                exports.write_csv(exports.long_rows(definition, response_records(survey=survey, version=chosen)), out)
            else:
                coding = "numeric" if format == "numeric" else "labels"
                rows = exports.wide_rows(
                    definition, response_records(survey=survey, version=chosen), coding=coding, header=header
                )
                exports.write_csv(rows, out)
        finally:
            if out is not sys.stdout:
                out.close()
        if output != "-":
            self.stderr.write(f"Wrote {format} of '{survey.slug}' to {output}.")
