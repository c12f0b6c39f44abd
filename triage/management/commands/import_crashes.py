"""`python manage.py import_crashes PATH [--fuzzer-account NAME] [--partial]`: import fuzzer crash reports."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from config.errors import ApplicationError
from triage.crashes.services import crashes_import


class Command(BaseCommand):
    help = (
        "Import crash reports from a JSON Lines file or a folder of .json files, grouped by signature. "
        "Checks every report first; writes nothing if any is wrong (unless --partial)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="A .jsonl file (one report a line) or a folder of .json files.")
        parser.add_argument(
            "--fuzzer-account", help="Record the reports as sent by this fuzzer account (created if missing)."
        )
        parser.add_argument("--partial", action="store_true", help="Store the valid reports and list the others.")

    def handle(self, *args, path, fuzzer_account=None, partial=False, **options):
        bar = None

        def progress(done: int, total: int):
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, unit="reports", file=sys.stderr, disable=options["verbosity"] == 0)
            bar.update(done - bar.n)

        try:
            result = crashes_import(path=path, account_name=fuzzer_account, partial=partial, progress=progress)
        except ApplicationError as exc:
            for problem in exc.details if isinstance(exc.details, list) else []:
                self.stderr.write(_problem_line(problem))
            raise CommandError(exc.message) from None
        finally:
            if bar is not None:
                bar.close()
        for refused in result.refused:
            for problem in refused["problems"]:
                self.stderr.write(_problem_line(problem))
        self.stdout.write(result.summary())


def _problem_line(problem: dict) -> str:
    field = f"field '{problem['field']}': " if problem.get("field") else ""
    return f"{problem.get('where', '')}: {field}{problem['message']}"
