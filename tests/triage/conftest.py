import json
from pathlib import Path

import pytest


@pytest.fixture
def queued_runs(monkeypatch):
    """(run id, queue) of every reproduction run the services send, recorded instead of a broker."""
    from triage.reproduction.tasks import reproduction_run_execute

    calls: list[tuple[int, str]] = []
    monkeypatch.setattr(
        reproduction_run_execute, "apply_async", lambda args, queue, **kw: calls.append((args[0], queue))
    )
    return calls


@pytest.fixture
def write_file(tmp_path):
    """write_file(name, lines_or_text) -> Path. A list of dicts becomes JSON Lines."""

    def _write(name: str, content) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, list):
            path.write_text("".join(json.dumps(r) + "\n" for r in content), encoding="utf-8")
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def queued(monkeypatch):
    """Job ids handed to the import task's ``delay`` (no broker needed)."""
    from triage.reports import tasks

    calls: list[int] = []
    monkeypatch.setattr(tasks.import_job_run, "delay", lambda job_id: calls.append(job_id))
    return calls


def record(n: int, **fields) -> dict:
    """A valid JSON Lines record for report ``n``."""
    return {
        "source_id": f"github:pytorch/pytorch#{n}",
        "framework": "pytorch",
        "title": f"Report {n}",
        "body": "Some **markdown**",
        "url": f"https://github.com/pytorch/pytorch/issues/{n}",
        "state": "open",
        "created_at": "2023-01-02T03:04:05Z",
        "labels": ["bug"],
        **fields,
    }
