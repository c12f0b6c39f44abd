"""Celery tasks of report files. A task takes ids, re-reads its rows and calls one service.

Task names are explicit and stable (``triage.tasks.*``, where they lived before the feature
packages), so messages already queued and beat schedules survive a deploy.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from triage.reports import services

MAX_RETRIES = 5


@shared_task(name="triage.tasks.import_job_run", bind=True, acks_late=True, max_retries=MAX_RETRIES)
def import_job_run(self, job_id: int) -> str:
    """Import the file of an ImportJob. A finished job is a no-op, so running twice is safe.

    Retries with exponential backoff only when the database is unreachable
    (``OperationalError``); a bad file is recorded on the job, not retried.
    """
    try:
        job = services.import_job_run(job_id=job_id)
    except OperationalError as exc:
        if self.request.retries >= MAX_RETRIES:
            try:
                services.import_job_fail(
                    job_id=job_id, message="The database could not be reached; nothing was written. Import again."
                )
            except OperationalError:
                pass
            raise
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
    return job.status if job else "missing"
