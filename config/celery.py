"""The Celery application. Broker and queues come from settings (``CELERY_*``)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("bugsift")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # <app>.tasks of every installed app
# triage keeps its tasks beside each feature (triage/<feature>/tasks.py); their names stay triage.tasks.*
app.autodiscover_tasks(["triage.reports", "triage.github", "triage.reproduction"])

# Reproduction runners (workers consuming repro.cpu / repro.gpu) register and send heartbeats.
from triage.reproduction import runners  # noqa: E402 - needs the app configured first

runners.connect(app)


# With CELERY_DB_REUSE_MAX a worker keeps its database connection between tasks; like Django does
# around each request, drop a connection that broke or outlived CONN_MAX_AGE before and after a task.
@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(task=None, **kwargs):
    if task is not None and getattr(task.request, "is_eager", False):
        return  # run in the caller's process (tests, CELERY_TASK_ALWAYS_EAGER): its connection is not ours
    from django.db import close_old_connections

    close_old_connections()


# Celery beat (`celery -A config beat`): periodic work.
app.conf.beat_schedule = {
    "github-sources-sync-due": {"task": "triage.tasks.github_sources_sync_due", "schedule": 300.0},
    "reproduction-runs-sweep": {"task": "triage.tasks.reproduction_runs_sweep", "schedule": 60.0},
}
