"""Import responses collected with another tool:
`manage.py import_survey_responses SLUG FILE [--map "COLUMN=CODE" ...]`.

Each --map names a CSV column and the question code it holds (QUESTION.ROW for a matrix row,
QUESTION.N for option N of a multiple choice as 1/0, submitted for the date, response for the
other tool's id, which is not stored); unmapped columns are ignored. Without --map, every header
column must be a question code, as in this app's own CSV export. Every bad line is listed with
its line number and column, and then nothing is imported.
"""

from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from surveys.models import Survey
from surveys.response_import import parse_mapping
from surveys.response_import_services import survey_responses_import


class Command(BaseCommand):
    help = "Import survey responses from a CSV, mapping its columns to question codes (all lines or none)."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The survey's slug (it must have been opened: answers need a version).")
        parser.add_argument("file", help="UTF-8 CSV with a header row, one response per line.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=CODE",
            help="A column and the question code it holds; repeat for every column to import.",
        )

    def handle(self, *args, slug, file, map, **options):
        survey = Survey.objects.filter(slug=slug).first()
        if survey is None:
            raise CommandError(f"No survey '{slug}'. A study's Surveys page (or GET /api/surveys/) shows the slugs.")
        try:
            mapping = parse_mapping(map)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        try:
            with open(file, "rb") as fh:
                report = survey_responses_import(survey=survey, source=fh, mapping=mapping or None)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
        except ApplicationError as exc:
            lines = [exc.message] + [
                f"  line {d['line']} ({d['field']}): {d['message']}" for d in exc.details if "line" in d
            ]
            raise CommandError("\n".join(lines)) from exc
        self.stdout.write(
            f"Imported {report['imported']} responses ({report['answers']} answers) into '{survey.slug}', "
            f"version {report['version']}."
        )
