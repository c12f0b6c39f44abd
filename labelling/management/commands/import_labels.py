"""Import annotations and final labels from a long-format CSV into a study."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from labelling.dataset.label_import import HEADER_HINT
from labelling.models import Study
from labelling.services.label_import import labels_import


class Command(BaseCommand):
    help = (
        f"Import labels from a UTF-8 CSV with the header {HEADER_HINT}. One line per label: an empty "
        "annotator makes it a FINAL label (method 'imported'); value is a category code or name (case "
        "ignored; several joined by ';' for multiple choice; free text as is). Reports not yet in the study "
        "are added; unknown annotators get an account without a password. Any wrong line stops the import "
        "and nothing is written; every problem is listed with its line number."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file to import.")
        parser.add_argument("--study", required=True, help="The study's slug.")
        parser.add_argument("--dry-run", action="store_true", help="Check the file and print the summary only.")

    def handle(self, *args, file, study, dry_run=False, **options):
        target = Study.objects.filter(slug=study).first()
        if target is None:
            raise CommandError(f"No study with slug '{study}'. Check the slug on the study page.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No file at '{file}'. Give the path of the CSV to import.")
        try:
            result = labels_import(study=target, source=path, dry_run=dry_run)
        except ApplicationError as exc:
            lines = [exc.message]
            lines += [f"  line {d['line']} ({d['field']}): {d['message']}" for d in exc.details]
            raise CommandError("\n".join(lines)) from exc
        self.stdout.write(result.summary)
