"""Start and stop the app under gunicorn for the HTTP benchmarks."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BENCH_ENCRYPTION_KEY = "bmVuY2htYXJrLW9ubHktZW5jcnlwdGlvbi1rZXktMzI="  # benchmarks only


def start_gunicorn(
    *, port: int, db_url: str, workers: str = "4", extra_env: dict | None = None, cwd: Path = ROOT
) -> subprocess.Popen:
    """gunicorn serving config.wsgi (of the code in ``cwd``) on 127.0.0.1:port against ``db_url``; returns once
    /healthz/ answers."""
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "benchmark-only-secret-" + "x" * 40),
        "BUGSIFT_FIELD_ENCRYPTION_KEY": os.environ.get("BUGSIFT_FIELD_ENCRYPTION_KEY", BENCH_ENCRYPTION_KEY),
        "DJANGO_SECURE_COOKIES": "0",
        "DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **(extra_env or {}),
    }
    env.pop("CELERY_BROKER_URL", None)
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "--timeout", "120"],
        cwd=cwd, env=env, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz/")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.2)
    stop_gunicorn(process)
    raise SystemExit("gunicorn did not start within 60 s")


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
