"""Celery tasks of triage. Each takes ids, re-reads its rows and calls one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from triage.reports import services

MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
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


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def github_sync_run(self, run_id: int) -> str:
    """Sync a GitHub source for a SyncRun, from its next page. A finished run is a no-op.

    A rate limit reschedules the task for when the limit resets (the worker is not held);
    an unreachable database is retried with backoff.
    """
    from triage.github.services import SyncMustWait, sync_run_execute

    try:
        run = sync_run_execute(run_id=run_id)
    except SyncMustWait as wait:
        raise self.retry(countdown=wait.countdown, max_retries=None) from None
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
    return run.status if run else "missing"


@shared_task(acks_late=True)
def github_sources_sync_due() -> int:
    """Celery beat: start a sync of every scheduled GitHub source that is due."""
    from triage.github.services import github_sources_sync_due as sources_sync_due

    return len(sources_sync_due())


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def reproduction_run_execute(self, run_id: int) -> str:
    """Run one ReproductionRun on this runner (queued on repro.cpu or repro.gpu).

    Late acknowledgement and ``reject_on_worker_lost``: if the process running it is killed, the
    message goes back to the queue, and the claim in ``run_execute`` decides, from the row, whether
    a delivery runs it (retried once), skips it (done, or running elsewhere) or gives up (lost).
    """
    import os
    import socket

    from triage.reproduction.services import run_execute

    runner_name = self.request.hostname or f"local@{socket.gethostname()}"
    try:
        run = run_execute(run_id=run_id, runner_name=runner_name, pid=os.getpid())
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
    return f"{run.status}:{run.verdict}" if run else "missing"


@shared_task(acks_late=True)
def reproduction_runs_sweep() -> dict:
    """Celery beat: retry runs whose runner went silent; send again runs whose message was lost."""
    from dataclasses import asdict

    from triage.reproduction.services import runs_sweep

    return asdict(runs_sweep())
