"""Make a draft survey: `manage.py create_survey SLUG --study STUDY (--from FILE | --from-codebook DIMENSION ...)`."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from labelling.models import Study
from surveys.generation import definition_from_codebook
from surveys.services import survey_create


class Command(BaseCommand):
    help = "Make a draft survey of a study from a definition file (JSON) or generated from codebook dimensions."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The new survey's slug.")
        parser.add_argument("--study", required=True, help="The study's slug.")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--from", dest="from_file", help="A JSON file with the survey definition.")
        source.add_argument(
            "--from-codebook", nargs="+", metavar="DIMENSION", help="Dimension codes of the study's codebook."
        )
        parser.add_argument("--title", default="", help="Title of a generated survey (default: from the dimensions).")

    def handle(self, *args, slug, study, from_file, from_codebook, title, **options):
        found = Study.objects.filter(slug=study).first()
        if found is None:
            raise CommandError(f"No study '{study}'. The study list (or GET /api/studies/) shows the slugs.")
        try:
            if from_file:
                try:
                    definition = json.loads(Path(from_file).read_text(encoding="utf-8"))
                except OSError as exc:
                    raise CommandError(f"Cannot read {from_file}: {exc.strerror}.") from exc
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise CommandError(f"{from_file} is not JSON: {exc}.") from exc
            else:
                definition = definition_from_codebook(study=found, dimensions=from_codebook, title=title)
            survey = survey_create(study=found, slug=slug, definition=definition, created_by=None)
        except ApplicationError as exc:
            lines = [exc.message] + [f"  {d['where']}: {d['message']}" for d in exc.details[1:]]
            raise CommandError("\n".join(lines)) from exc
        questions = sum(len(s["questions"]) for s in survey.definition["sections"])
        self.stdout.write(
            f"Survey '{survey.slug}' made as a draft of '{found.slug}': {len(survey.definition['sections'])} sections, "
            f"{questions} questions. Open it on its page (or edit it first)."
        )
