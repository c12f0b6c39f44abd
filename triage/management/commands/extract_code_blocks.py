"""`python manage.py extract_code_blocks [--only-missing]`: extract the code blocks of stored reports.

Reports imported before code blocks were extracted at import (JSONL/CSV files, the demo) get their
fenced and indented blocks with the extractor the GitHub sync uses; running it again gives the same
blocks. A reproducer made from a block keeps its script.
"""

from django.core.management.base import BaseCommand

from triage.reports.services import code_blocks_extract_all


class Command(BaseCommand):
    help = "Extract the fenced and indented code blocks of every stored report (and its comments) again."

    def add_arguments(self, parser):
        parser.add_argument("--only-missing", action="store_true", help="Only reports that have no code block yet.")

    def handle(self, *args, only_missing: bool, **options):
        reports, blocks = code_blocks_extract_all(only_missing=only_missing)
        self.stdout.write(f"{reports} report(s) read, {blocks} code block(s) stored.")
