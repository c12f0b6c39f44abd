"""Celery tasks of GitHub syncs. A task takes ids, re-reads its rows and calls one service.

Task names are explicit and stable (``triage.tasks.*``), so queued messages and the beat
schedule (config/celery.py) survive a deploy.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from triage.github import services

MAX_RETRIES = 5


@shared_task(name="triage.tasks.github_sync_run", bind=True, acks_late=True, max_retries=MAX_RETRIES)
def github_sync_run(self, run_id: int) -> str:
    """Sync a GitHub source for a SyncRun, from its next page. A finished run is a no-op.

    A rate limit reschedules the task for when the limit resets (the worker is not held);
    an unreachable database is retried with backoff.
    """
    try:
        run = services.sync_run_execute(run_id=run_id)
    except services.SyncMustWait as wait:
        raise self.retry(countdown=wait.countdown, max_retries=None) from None
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
    return run.status if run else "missing"


@shared_task(name="triage.tasks.github_sources_sync_due", acks_late=True)
def github_sources_sync_due() -> int:
    """Celery beat: start a sync of every scheduled GitHub source that is due."""
    return len(services.github_sources_sync_due())
