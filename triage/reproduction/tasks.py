"""Celery tasks of reproduction runners. A task takes ids, re-reads its rows and calls one service.

Task names are explicit and stable (``triage.tasks.*``), so queued runs on ``repro.cpu`` /
``repro.gpu`` and the beat schedule (config/celery.py) survive a deploy.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict

from celery import shared_task
from django.db import OperationalError

from triage.reproduction import services

MAX_RETRIES = 5


@shared_task(
    name="triage.tasks.reproduction_run_execute",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
)
def reproduction_run_execute(self, run_id: int) -> str:
    """Run one ReproductionRun on this runner (queued on repro.cpu or repro.gpu), then the next queued
    runs of that queue, one at a time, up to BUGSIFT_REPRO_BATCH_SIZE runs (``runs_execute``).

    Late acknowledgement and ``reject_on_worker_lost``: if the process running it is killed, the
    message goes back to the queue, and the claim in ``run_execute`` decides, from the row, whether
    a delivery runs it (retried once), skips it (done, or running elsewhere) or gives up (lost).
    """
    runner_name = self.request.hostname or f"local@{socket.gethostname()}"
    try:
        result = services.runs_execute(run_id=run_id, runner_name=runner_name, pid=os.getpid())
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
    return str(result)


@shared_task(name="triage.tasks.reproduction_runs_sweep", acks_late=True)
def reproduction_runs_sweep() -> dict:
    """Celery beat: retry runs whose runner went silent; send again runs whose message was lost."""
    return asdict(services.runs_sweep())
