"""docs/deploy.md "Backups": a pg_dump of the database restored with pg_restore into an empty
database holds every study (and its labels and releases)."""

import os
import shutil
import subprocess
import uuid

import pytest
from django.db import connection

from tests.factories import AnnotationFactory, ReleaseFactory, StudyFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _tools():
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        message = (
            f"{' and '.join(missing)} missing: install PostgreSQL's client tools "
            "(`apt-get install -y postgresql-client`) to test backups."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _url(settings_dict: dict, name: str) -> str:
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgresql://{user}{password}@{host}:{port}/{name}"


def test_a_dump_restored_into_an_empty_database_has_every_study(tmp_path, settings):
    if connection.vendor != "postgresql":
        pytest.skip("Backups are PostgreSQL's pg_dump / pg_restore: run the tests with DATABASE_URL=postgres://...")
    _tools()
    settings.MEDIA_ROOT = tmp_path / "media"
    studies = [StudyFactory(slug=f"backup-{n}", name=f"Backup study {n}") for n in range(3)]
    AnnotationFactory(item__study=studies[0], value="crash")
    ReleaseFactory(study=studies[1])
    source = connection.settings_dict
    dump = tmp_path / "bugsift.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", _url(source, source["NAME"])],
        check=True,
        capture_output=True,
    )
    target = f"bugsift_restore_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{target}"')
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_url(source, target)}", str(dump)],
            check=True,
            capture_output=True,
        )
        import psycopg2

        with psycopg2.connect(_url(source, target)) as restored, restored.cursor() as cursor:
            cursor.execute("SELECT slug, name FROM labelling_study ORDER BY slug")
            found = cursor.fetchall()
            cursor.execute("SELECT count(*) FROM labelling_annotation")
            annotations = cursor.fetchone()[0]
            cursor.execute("SELECT version, sha256 FROM labelling_release")
            releases = cursor.fetchall()
        restored.close()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{target}"')
    from labelling.models import Study

    assert found == list(Study.objects.order_by("slug").values_list("slug", "name"))
    assert {slug for slug, _ in found} >= {"backup-0", "backup-1", "backup-2"}
    assert annotations == 1
    assert releases == [("1.0.0", "8739c76e681f900923b900c9df0ef75cf421d39cabb54650c4b9ad19b6a76d85")]
