import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _start(env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_missing_secret_key_with_debug_off_stops_start_with_clear_message():
    result = _start({"DJANGO_DEBUG": "0"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_debug_mode_starts_without_secret_key():
    result = _start({"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr


def test_production_mode_starts_with_secret_key():
    result = _start({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "x" * 50})
    assert result.returncode == 0, result.stderr


def test_the_old_byte_limit_settings_stop_start_and_name_the_new_one():
    result = _start({"DJANGO_DEBUG": "1", "BUGSIFT_MAX_UPLOAD_BYTES": "1000"})
    assert result.returncode != 0
    assert "set BUGSIFT_MAX_UPLOAD_MB (in MB) instead" in result.stderr


def test_request_limits_are_read_in_mb():
    code = "from django.conf import settings as s; print(s.BUGSIFT_MAX_REQUEST_BYTES, s.BUGSIFT_MAX_UPLOAD_BYTES)"
    env = {**os.environ, "DJANGO_DEBUG": "1", "BUGSIFT_MAX_REQUEST_MB": "3", "BUGSIFT_MAX_UPLOAD_MB": "7"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.stdout.split()[-2:] == [str(3 * 1024 * 1024), str(7 * 1024 * 1024)], result.stderr


def test_the_demo_runs_in_development_mode_without_djangos_debug_pages():
    code = "from django.conf import settings as s; print(s.DEVELOPMENT, s.DEBUG, s.WHITENOISE_USE_FINDERS)"
    base = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_DEBUG_PAGES")}

    def read(**env):
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT,
            env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert read(DJANGO_DEBUG="1") == ["True", "True", "True"]
    assert read(DJANGO_DEBUG="1", DJANGO_DEBUG_PAGES="0") == ["True", "False", "True"]  # make demo
    assert read(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="x" * 50)[:2] == ["False", "False"]
