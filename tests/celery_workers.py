"""Start real `celery -A config worker` processes for tests that exercise queues.

The worker gets the test database (PostgreSQL from DATABASE_URL, or the SQLite test file) and
the same broker and var dir as the tests, through its environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection


def worker_database_url() -> str:
    if connection.vendor == "sqlite":
        return "sqlite:///" + str(Path(settings.DATABASES["default"]["TEST"]["NAME"]).resolve())
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="") + (":" + quote(s["PASSWORD"], safe="") if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log_path: Path

    def log(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def kill(self) -> None:
        """SIGKILL the worker and everything it started (its process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def start_worker(
    tmp_path: Path,
    *,
    name: str,
    queues: str,
    pool: str = "solo",
    concurrency: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Worker:
    log_path = tmp_path / f"worker-{name}.log"
    env = {
        **os.environ,
        "DATABASE_URL": worker_database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "--loglevel=info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--queues={queues}",
            f"--hostname={name}@%h",
        ],
        cwd=os.getcwd(),
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so kill() takes its children too
    )
    return Worker(name=name, process=process, log_path=log_path)


def wait_for(predicate, *, timeout: float, interval: float = 0.2, workers: list[Worker] = ()) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; stop early if a worker died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if any(w.process.poll() is not None for w in workers):
            return bool(predicate())
        time.sleep(interval)
    return bool(predicate())
