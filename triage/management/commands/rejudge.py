"""`python manage.py rejudge RUN_ID [--expect ... | --signature ...]`: judge a stored run again.

Nothing runs: the run's stored result (exit code, signal, output tails) is judged by today's rules
against a corrected expectation, or against its reproducer's own. The new verdict joins the run's
verdict history (with who and which rules) and the check's summary is brought up to date.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from triage.models import ReproductionRun
from triage.reproduction.services import run_rejudge


class Command(BaseCommand):
    help = "Judge a stored reproduction run again (optionally against a corrected expectation); history is kept."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int, help="The run's id (its page is /reports/runs/ID/).")
        parser.add_argument(
            "--expect", default="", help='e.g. "IndexError: index out of range", "exit 3" or "SIGSEGV".'
        )
        parser.add_argument("--signature", default="", help="A crash group's signature the trace must match.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")

    def handle(self, *args, run_id: int, expect: str, signature: str, **opts):
        run = ReproductionRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"There is no run {run_id}.")
        before = run.verdict
        try:
            run = run_rejudge(run=run, expect=expect, signature=signature)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if opts["json"]:
            body = {
                "run": run.pk,
                "verdict": run.verdict,
                "previous_verdict": before,
                "reason": run.verdict_reason,
                "hint": run.verdict_hint,
                "detail": run.verdict_detail,
                "expectation": run.expectation or None,
                "compared": bool(run.expectation),
                "matched": run.expectation_matched,
                "history": run.verdict_history,
            }
            self.stdout.write(json.dumps(body, default=str))
            return
        self.stdout.write(f"Run {run.pk}: {before or 'no verdict'} -> {run.verdict}")
        self.stdout.write(f"  {run.verdict_detail}")
        self.stdout.write(f"  {len(run.verdict_history)} verdict(s) in its history.")
