"""Import annotations and final labels from a long-format CSV into a study."""

from pathlib import Path

from django.core.checks import Tags
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
        "are added. Every annotator named in the file must already be an annotator of the study (add them "
        "on the study's Settings page or with POST /api/studies/SLUG/members/); with --create-annotators, "
        "usernames that have no account get one (no usable password) and become annotators, which the "
        "summary lists. Only the final labels of the items and dimensions the file labels are recomputed; "
        "adjudicated and imported final labels are never removed. Any wrong line stops the import and "
        "nothing is written; every problem is listed with its line number."
    )

    # The model checks only: the others (URLs, templates, static files) load the whole web surface,
    # scikit-learn and SciPy included, which took most of this command's start-up time and 200+ MB
    # of its memory for nothing it uses. `manage.py check` runs them all.
    requires_system_checks = [Tags.models]

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file to import.")
        parser.add_argument("--study", required=True, help="The study's slug.")
        parser.add_argument("--dry-run", action="store_true", help="Check the file and print the summary only.")
        parser.add_argument(
            "--create-annotators",
            action="store_true",
            help="Create an account (no usable password) for each annotator username that has none, and make "
            "it an annotator of the study. Existing accounts that are not annotators of the study are still "
            "refused: add them as annotators first.",
        )

    def handle(self, *args, file, study, dry_run=False, create_annotators=False, **options):
        target = Study.objects.filter(slug=study).first()
        if target is None:
            raise CommandError(f"No study with slug '{study}'. Check the slug on the study page.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No file at '{file}'. Give the path of the CSV to import.")
        try:
            result = labels_import(study=target, source=path, dry_run=dry_run, create_annotators=create_annotators)
        except ApplicationError as exc:
            lines = [exc.message]
            lines += [f"  line {d['line']} ({d['field']}): {d['message']}" for d in exc.details]
            raise CommandError("\n".join(lines)) from exc
        self.stdout.write(result.summary)
