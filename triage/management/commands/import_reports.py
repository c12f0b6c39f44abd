"""`python manage.py import_reports FILE [--format jsonl|csv]`: import a file of reports."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from config.errors import ApplicationError
from triage.reports.files import FORMATS
from triage.reports.services import reports_import


class Command(BaseCommand):
    help = "Import reports from a JSON Lines or CSV file. Checks every line first; writes nothing if any is wrong."

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of a .jsonl/.ndjson/.json (JSON Lines) or .csv file.")
        parser.add_argument("--format", choices=FORMATS, help="Default: from the file extension.")

    def handle(self, *args, file, format=None, **options):
        bar = None

        def progress(done: int, total: int):
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="reports", file=sys.stderr, disable=options["verbosity"] == 0)
            bar.update(done - bar.n)

        try:
            result = reports_import(source=file, fmt=format, progress=progress)
        except ApplicationError as exc:
            for problem in exc.details if isinstance(exc.details, list) else []:
                self.stderr.write(_problem_line(problem))
            raise CommandError(exc.message) from None
        finally:
            if bar is not None:
                bar.close()
        self.stdout.write(result.summary())


def _problem_line(problem: dict) -> str:
    where = f"line {problem['line']}: " if problem.get("line") is not None else ""
    field = f"field '{problem['field']}': " if problem.get("field") else ""
    return f"{where}{field}{problem['message']}"
