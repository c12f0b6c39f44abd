"""The Celery application. Broker and queues come from settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("bugsift")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Reproduction runners (workers consuming repro.cpu / repro.gpu) register and send heartbeats.
from triage import runners  # noqa: E402 - needs the app configured first

runners.connect(app)

# Celery beat (`celery -A config beat`): periodic work.
app.conf.beat_schedule = {
    "github-sources-sync-due": {"task": "triage.tasks.github_sources_sync_due", "schedule": 300.0},
    "reproduction-runs-sweep": {"task": "triage.tasks.reproduction_runs_sweep", "schedule": 60.0},
}
