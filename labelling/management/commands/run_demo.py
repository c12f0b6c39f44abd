"""Run the demo (`make demo`): one Celery worker and Django's development server, until Ctrl-C.

Ctrl-C (SIGINT) or SIGTERM stops both within a few seconds, quietly: the web server and the
worker get SIGTERM; a worker still busy after ``--grace`` seconds (a reproduction running) gets
SIGQUIT (Celery's cold shutdown), and anything left 1.5 seconds later SIGKILL. A task cut short
is not lost: its job row is still queued or running in the database, and the requeue sweeps send
it again (DESIGN.md). Both run in their own process groups, so the terminal's Ctrl-C
reaches only this command, which stops them in that order (a Ctrl-C that reached the worker
directly started a warm shutdown that waited for running tasks, and a second signal was ignored).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand

# What the worker says while it stops; the demo's own message replaces it.
WORKER_CHATTER = re.compile(r"worker: (Warm|Cold) shutdown|Hitting Ctrl\+C again|Waiting gracefully for cold shutdown")


class Command(BaseCommand):
    help = "Run the demo's Celery worker and web server until Ctrl-C (which stops both within seconds)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--grace", type=float, default=1.5, help="Seconds a busy worker gets to finish before it is stopped."
        )

    def handle(self, *args, host, port, grace, **options):
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        worker = subprocess.Popen(
            [python, "-m", "celery", "-A", "config", "--quiet", "worker", "--loglevel=error", "--concurrency=2",
             "--queues=celery,repro.cpu", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=settings.BASE_DIR,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        threading.Thread(target=self._forward, args=(worker.stdout,), daemon=True).start()
        web = subprocess.Popen(
            [python, manage, "runserver", f"{host}:{port}", "--noreload"],
            cwd=settings.BASE_DIR,
            start_new_session=True,
        )
        processes = {"web server": web, "worker": worker}
        url = f"http://{host}:{port}/"
        announced = False
        try:
            while not stop.is_set():
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(
                            f"The demo's {name} stopped (exit code {process.returncode}); stopping the demo."
                        )
                        return
                if not announced and self._answers(url + "healthz/"):
                    announced = True
                    self.stdout.write(
                        f"\nBugsift demo: {url}  log in as owner, alice, bob or vera, password bugsift-demo. "
                        "Ctrl-C stops it.\n"
                    )
                stop.wait(0.3)
        finally:
            self._stop(processes, grace)
        self.stdout.write("Bugsift demo stopped.")

    def _forward(self, stream) -> None:
        for line in stream:
            if not WORKER_CHATTER.search(line):
                sys.stderr.write(line)

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    @staticmethod
    def _signal(process: subprocess.Popen, sig: int, *, group: bool = True) -> None:
        if process.poll() is None:
            try:
                if group:
                    os.killpg(process.pid, sig)  # the whole group: the worker's pool processes too
                else:
                    process.send_signal(sig)
            except ProcessLookupError:
                pass

    def _stop(self, processes: dict, grace: float) -> None:
        for process in processes.values():
            self._signal(process, signal.SIGTERM, group=False)  # the worker stops its own pool
        for sig, wait in ((signal.SIGQUIT, grace), (signal.SIGKILL, 1.5)):
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(p.poll() is None for p in processes.values()):
                time.sleep(0.1)
            for process in processes.values():
                self._signal(process, sig)
        for process in processes.values():
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            # The group may outlive its leader (a pool process): make sure nothing of it is left.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
