"""The public surface a deploy must keep: URL names and routes, API operations, management
commands, Celery task names and the migration state.

``tests/public_surface.json`` is the surface as it was before the triage/ reorganisation. A move
of code must leave it unchanged. A deliberate change (a new page, endpoint, command or task)
updates the file in the same commit: ``python -m tests.test_public_surface > tests/public_surface.json``.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).with_name("public_surface.json")
OUR_APPS = ("config", "labelling", "triage", "surveys")  # management commands of these apps


def _url_names() -> dict[str, str]:
    """Every named URL pattern, as ``namespace:name`` -> route, walking the URLconf."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: dict[str, str] = {}

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                ns = namespace
                if entry.namespace:
                    ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
                walk(entry.url_patterns, route, ns)
            elif isinstance(entry, URLPattern) and entry.name and not namespace.startswith("admin"):
                found[f"{namespace}:{entry.name}" if namespace else entry.name] = route

    walk(get_resolver().url_patterns, "/", "")
    return dict(sorted(found.items()))


def _api_operations() -> dict[str, str]:
    """``METHOD path`` -> operationId, from the generated OpenAPI schema."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {}
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            operations[f"{method.upper()} {path}"] = operation["operationId"]
    return dict(sorted(operations.items()))


def _commands() -> list[str]:
    from django.core.management import get_commands

    return sorted(name for name, app in get_commands().items() if app.split(".")[0] in OUR_APPS)


def _task_names() -> list[str]:
    from config.celery import app

    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def _beat_tasks() -> dict[str, str]:
    from config.celery import app

    return {key: entry["task"] for key, entry in sorted(app.conf.beat_schedule.items())}


def surface() -> dict:
    return {
        "urls": _url_names(),
        "api_operations": _api_operations(),
        "commands": _commands(),
        "celery_tasks": _task_names(),
        "beat_schedule": _beat_tasks(),
    }


@pytest.mark.django_db
def test_public_surface_is_unchanged():
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    actual = surface()
    for part in expected:
        assert actual[part] == expected[part], (
            f"{part} changed; if deliberate, regenerate {SNAPSHOT.name} (see this module's docstring)"
        )


def test_task_names_are_registered_by_the_worker_modules():
    """Beat entries name tasks that exist: a renamed task would leave beat sending to nothing."""
    tasks = set(_task_names())
    assert set(_beat_tasks().values()) <= tasks


@pytest.mark.django_db
def test_models_and_migrations_agree():
    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)  # exits non-zero if a migration is missing


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "surface-snapshot")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    django.setup()
    print(json.dumps(surface(), indent=2, sort_keys=False))
