"""`make demo` (issue 17): it serves the site's own error pages, and Ctrl-C stops everything
within 10 seconds, quietly.

Runs the real Makefile target on a temporary var dir (SQLite, the embedded broker) and a free
port, then sends SIGINT to its whole process group, as a terminal's Ctrl-C does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.demo

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _processes_with(marker: str) -> list[int]:
    """Pids of the processes whose environment holds ``marker`` (our var dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_make_demo_serves_styled_errors_and_stops_on_ctrl_c_within_10_seconds(tmp_path):
    port = _free_port()
    var_dir = str(tmp_path / "demo-var")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_DEBUG", "DJANGO_DEBUG_PAGES", "DJANGO_SECRET_KEY")
    }
    env.update(BUGSIFT_VAR_DIR=var_dir, PYTHONUNBUFFERED="1")
    log = (tmp_path / "demo.log").open("w+")
    # -o: the venv is installed already (make test made it); never reinstall from here.
    demo = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "demo", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # migrate and load_demo on a busy machine
        while time.monotonic() < deadline:
            assert demo.poll() is None, Path(log.name).read_text()
            try:
                if _get(base + "/healthz/")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the demo did not answer within 240 s:\n" + Path(log.name).read_text())

        status, body = _get(base + "/no-such-page/")
        assert status == 404
        assert "Not found (404)" in body and "Go to your studies" in body
        assert "URLconf" not in body  # not Django's debug page listing every URL
        assert _get(base + "/favicon.ico")[0] == 200
        assert _get(base + "/static/css/app.css")[0] == 200
        assert _processes_with(var_dir), "the demo's processes should carry its var dir"

        stopped_at = time.monotonic()
        os.killpg(demo.pid, signal.SIGINT)
        while time.monotonic() - stopped_at < 10 and (demo.poll() is None or _processes_with(var_dir)):
            time.sleep(0.1)
        took = time.monotonic() - stopped_at
        left = _processes_with(var_dir)
    finally:
        for pid in _processes_with(var_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    output = Path(log.name).read_text()
    assert demo.returncode is not None and left == [], f"still running after {took:.1f} s: {left}\n{output}"
    assert took < 10
    for noise in ("Segmentation fault", "Traceback", "Warm shutdown", "Interrupt", "Error"):
        assert noise not in output, output
    with pytest.raises(OSError):
        _get(base + "/healthz/")
