"""Label Studio for `make bench-compare`: its own virtualenv, its default server, its REST API.

* ``ensure_venv()`` creates ``var/bench/labelstudio-venv`` (outside the project's .venv) with
  ``pip install label-studio==1.23.2`` on the first run and reuses it afterwards.
* ``start(port, data_dir)`` runs ``label-studio start --no-browser`` (its default server, Django's
  runserver, on SQLite in ``data_dir``) with the first user and its API token created from
  LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD / LABEL_STUDIO_USER_TOKEN (label_studio/server.py
  ``_create_user``); the legacy "Token" API tokens are enabled for that organisation
  (``--enable-legacy-api-token``), so ``Authorization: Token ...`` works.
* ``add_members(...)`` creates the other annotators' accounts in that organisation (Label Studio
  has no command for it; an import resolves ``completed_by: {"email": ...}`` against the
  organisation's members, tasks/serializers.py ``_insert_valid_completed_by``).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = "1.23.2"
VENV = ROOT / "var" / "bench" / "labelstudio-venv"
BIN = VENV / "bin"
PASSWORD = "bench-password-123"
TOKEN = "benchcmp0token0for0labelstudio0only"  # benchmarks only; the server listens on 127.0.0.1


def email(username: str) -> str:
    return f"{username}@bench.localhost"


def installed_version() -> str | None:
    python = BIN / "python"
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


LS_PINS = ("sentry-sdk>=2,<3",)


def ensure_venv(python: str | None = None, log=print) -> None:
    """Create the virtualenv and install Label Studio once; reuse it when the version matches."""
    if installed_version() == VERSION:
        return
    python = python or os.environ.get("BENCH_LS_PYTHON") or "python3.11"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    if not (BIN / "python").exists():
        log(f"creating {VENV.relative_to(ROOT)} with {python} ...")
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    log(f"installing label-studio=={VERSION} into {VENV.relative_to(ROOT)} (first run only; minutes) ...")
    # Label Studio 1.23.2 leaves sentry-sdk unbounded and does not start with sentry-sdk 3
    # ("Unknown option 'send_default_pii'"): keep the 2.x line it was released against.
    done = subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", f"label-studio=={VERSION}", *LS_PINS], check=False
    )
    if done.returncode != 0 or installed_version() != VERSION:
        raise SystemExit(f"could not install label-studio=={VERSION} into {VENV} (pip exit {done.returncode})")


def start(*, port: int, data_dir: Path, log_file) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "BUGSIFT_"))},
        "LABEL_STUDIO_USERNAME": email("bench_cmp_a"),
        "LABEL_STUDIO_PASSWORD": PASSWORD,
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "SECRET_KEY": "benchmark-only-secret-" + "y" * 40,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),  # also for the settings read before --data-dir applies
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            str(BIN / "label-studio"),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--enable-legacy-api-token",
        ],
        cwd=data_dir,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


ADD_MEMBERS = """
import os, sys, json
sys.path.insert(0, os.path.dirname(__import__('label_studio').__file__))
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'label_studio.core.settings.label_studio')
import django; django.setup()
from organizations.models import Organization
from users.models import User
org = Organization.objects.first()
ids = {}
for address in json.loads(sys.argv[1]):
    user = User.objects.filter(email=address).first()
    if user is None:
        user = User.objects.create_user(email=address, password=sys.argv[2])
    org.add_user(user)
    user.active_organization = org
    user.save(update_fields=['active_organization'])
    ids[address] = user.id
print(json.dumps(ids))
"""


def add_members(*, data_dir: Path, usernames) -> dict[str, int]:
    """Accounts for ``usernames`` (as e-mail addresses) in the server's organisation; returns their ids."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "BUGSIFT_"))},
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "SECRET_KEY": "benchmark-only-secret-" + "y" * 40,
    }
    done = subprocess.run(
        [str(BIN / "python"), "-c", ADD_MEMBERS, json.dumps([email(u) for u in usernames]), PASSWORD],
        cwd=data_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit("could not add Label Studio accounts:\n" + done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def wait_ready(port: int, process: subprocess.Popen, log_path: Path, timeout: float = 1800) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            sys.stdout.write(log_path.read_text(errors="replace")[-4000:])
            raise SystemExit(f"label-studio exited with {process.returncode} before answering (log above)")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"label-studio did not answer /health within {timeout:.0f} s (log: {log_path})")
