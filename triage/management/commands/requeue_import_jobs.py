"""`python manage.py requeue_import_jobs`: queue again the import jobs the broker lost.

Run it from cron (e.g. every 10 minutes): a job queued while the broker was down, or whose
worker died, is found by its row and queued again. Running a job twice is safe.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand

from triage.reports.services import import_jobs_requeue_stale


class Command(BaseCommand):
    help = "Queue again import jobs still queued after N minutes (or running for hours: their worker died)."

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=int, default=10, help="Queued for at least this long (default 10).")
        parser.add_argument(
            "--running-hours", type=float, default=6, help="Running for at least this long (default 6 hours)."
        )

    def handle(self, *args, minutes, running_hours, **options):
        job_ids = import_jobs_requeue_stale(
            queued_for=timedelta(minutes=minutes), running_for=timedelta(hours=running_hours)
        )
        self.stdout.write(
            f"queued again: {len(job_ids)} job(s){': ' + ', '.join(map(str, job_ids)) if job_ids else ''}"
        )
