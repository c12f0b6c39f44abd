"""Reproduction API: attach reproducers, start checks and bisections (202), read reproductions and runners.

Runs are not executed: the queued tasks are recorded (see ``queued_runs``); finished runs are rows written directly.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import (
    ReportFactory,
    ReproducerFactory,
    ReproductionFactory,
    ReproductionRunFactory,
    RunnerFactory,
)
from triage.models import CodeBlock, Reproducer, Reproduction, ReproductionRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(api_client, small_study):
    api_client.force_authenticate(small_study["researcher"])
    return api_client


def _attach(client, report, **data):
    return client.post(f"/api/reports/{report.pk}/reproducers/", data, format="json")


# --------------------------------------------------------------------------- permissions


def test_anonymous_gets_401(api_client, db):
    report = ReportFactory()
    reproducer = ReproducerFactory(report=report)
    assert api_client.get(f"/api/reports/{report.pk}/reproducers/").status_code == 401
    assert api_client.post(f"/api/reproducers/{reproducer.pk}/reproductions/", {}, format="json").status_code == 401
    assert api_client.get("/api/runners/").status_code == 401


def test_annotator_reads_but_may_not_attach_or_run(api_client, small_study, queued_runs):
    report = ReportFactory()
    reproducer = ReproducerFactory(report=report)
    api_client.force_authenticate(small_study["ann1"])
    assert api_client.get(f"/api/reports/{report.pk}/reproducers/").status_code == 200
    assert api_client.get(f"/api/reproducers/{reproducer.pk}/").status_code == 200
    refused = _attach(api_client, report, script="x = 1")
    assert refused.status_code == 403
    assert "researcher or curator role" in refused.json()["message"]
    run = api_client.post(f"/api/reproducers/{reproducer.pk}/reproductions/", {"repeat": 1}, format="json")
    bisect = api_client.post(
        f"/api/reproducers/{reproducer.pk}/bisections/", {"package": "torch", "versions": ["1", "2"]}, format="json"
    )
    assert run.status_code == 403 and bisect.status_code == 403
    assert Reproducer.objects.count() == 1 and not Reproduction.objects.exists() and queued_runs == []


def test_staff_may_attach(api_client, db):
    from tests.factories import UserFactory

    api_client.force_authenticate(UserFactory(username="root", is_staff=True))
    assert _attach(api_client, ReportFactory(), script="x = 1", expect="ValueError").status_code == 201


# --------------------------------------------------------------------------- attaching


def test_attach_and_read_back(owner):
    report = ReportFactory()
    response = _attach(
        owner, report, script="import sys; sys.exit(1)", requirements="torch==2.13.0", oracle="assertion", title="t"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    reproducer = Reproducer.objects.get()
    assert body["id"] == reproducer.pk and body["report"] == report.pk and body["oracle"] == "assertion"
    assert response["Location"].endswith(f"/api/reproducers/{reproducer.pk}/")
    listed = owner.get(f"/api/reports/{report.pk}/reproducers/").json()["results"]
    assert [r["id"] for r in listed] == [reproducer.pk]
    assert owner.get(f"/api/reproducers/{reproducer.pk}/").json()["requirements"] == "torch==2.13.0"


def test_attach_from_a_code_block(owner):
    report = ReportFactory()
    block = CodeBlock.objects.create(report=report, code="raise RuntimeError('boom')", is_python=True)
    response = _attach(owner, report, code_block=block.pk, expect="RuntimeError: boom")
    assert response.status_code == 201
    assert response.json()["code_block"] == block.pk and response.json()["script"] == block.code
    assert response.json()["expectation"] == {
        "exception_type": "RuntimeError",
        "message_pattern": "boom",
        "source": "given",
    }


def test_a_crash_reproducer_takes_its_expectation_from_the_report_or_needs_one(owner):
    report = ReportFactory(
        body='It fails:\n\n```\nTraceback (most recent call last):\n  File "x.py", line 2, in <module>\n'
        "    torch.zeros(2)[5]\nIndexError: index 5 is out of bounds for dimension 0 with size 2\n```\n"
    )
    taken = _attach(owner, report, script="import torch")
    assert taken.status_code == 201
    assert taken.json()["expectation"] == {
        "exception_type": "IndexError",
        "message_pattern": "index 5 is out of bounds for dimension 0 with size 2",
        "source": "report body",
    }
    none = _attach(owner, ReportFactory(body="no traceback here"), script="import torch")
    assert none.status_code == 400 and "expect" in none.json()["details"]
    bad = _attach(owner, report, script="x = 1", expect="not an exception!")
    assert bad.status_code == 400 and "exception type" in bad.json()["details"]["expect"]


def test_code_block_of_another_report_or_missing_is_refused(owner):
    report, other = ReportFactory(), ReportFactory()
    block = CodeBlock.objects.create(report=other, code="x = 1", is_python=True)
    foreign = _attach(owner, report, code_block=block.pk)
    assert foreign.status_code == 400 and "code_block" in foreign.json()["details"]
    missing = _attach(owner, report, code_block=block.pk + 100)
    assert missing.status_code == 400 and "code_block" in missing.json()["details"]
    assert not Reproducer.objects.exists()


def test_validation_errors_name_the_field(owner):
    report = ReportFactory()
    response = _attach(owner, report, script="", requirements="torch==2.13.0 -e x", memory_mb=1)
    assert response.status_code == 400
    details = response.json()["details"]
    assert {"script", "requirements", "memory_mb"} <= set(details)
    assert all(details[name] for name in ("script", "requirements", "memory_mb"))
    typed = _attach(owner, report, script="x = 1", oracle="vibes", timeout_seconds="soon")
    assert typed.status_code == 400
    assert {"oracle", "timeout_seconds"} <= set(typed.json()["details"])
    assert not Reproducer.objects.exists()


def test_differential_needs_two_different_sides(owner):
    report = ReportFactory()
    same = _attach(owner, report, script="x = 1", oracle="differential")
    assert same.status_code == 400 and "compare_device" in same.json()["details"]
    versions = _attach(
        owner,
        report,
        script="x = 1",
        oracle="differential",
        requirements="numpy==1.26.4",
        compare_requirements="numpy==2.0.0",
    )
    assert versions.status_code == 201 and versions.json()["compare_requirements"] == "numpy==2.0.0"


# --------------------------------------------------------------------------- starting


def test_reproductions_are_accepted_and_queued_by_device(owner, queued_runs, django_capture_on_commit_callbacks):
    cpu = ReproducerFactory(device="cpu")
    gpu = ReproducerFactory(device="gpu")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(f"/api/reproducers/{cpu.pk}/reproductions/", {"repeat": 4}, format="json")
    assert response.status_code == 202
    body = response.json()
    reproduction = Reproduction.objects.get(pk=body["id"])
    assert body["status"] == "queued" and body["url"].endswith(f"/api/reproductions/{reproduction.pk}/")
    assert response["Location"] == body["url"]
    assert (
        sorted(queued_runs) == sorted((run.pk, "repro.cpu") for run in reproduction.runs.all())
        and len(queued_runs) == 4
    )
    queued_runs.clear()
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(f"/api/reproducers/{gpu.pk}/reproductions/", {"repeat": 2}, format="json")
    assert [queue for _, queue in queued_runs] == ["repro.gpu", "repro.gpu"]


def test_differential_cpu_vs_gpu_queues_one_run_on_each(owner, queued_runs, django_capture_on_commit_callbacks):
    reproducer = ReproducerFactory(oracle="differential", device="cpu", compare_device="gpu")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(f"/api/reproducers/{reproducer.pk}/reproductions/", {}, format="json")
    assert response.status_code == 202
    by_side = {run.side: run.pk for run in ReproductionRun.objects.all()}
    assert sorted(queued_runs) == sorted([(by_side["a"], "repro.cpu"), (by_side["b"], "repro.gpu")])


@pytest.mark.parametrize("repeat", [0, 101, "many"])
def test_bad_repeat_names_the_field(owner, queued_runs, repeat):
    reproducer = ReproducerFactory()
    response = owner.post(f"/api/reproducers/{reproducer.pk}/reproductions/", {"repeat": repeat}, format="json")
    assert response.status_code == 400 and "repeat" in response.json()["details"]
    assert not Reproduction.objects.exists()


def test_bisection_is_accepted_and_its_first_step_queued(owner, queued_runs, django_capture_on_commit_callbacks):
    reproducer = ReproducerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            f"/api/reproducers/{reproducer.pk}/bisections/",
            {"package": "bugsift-tinypkg", "versions": ["1.0", "1.1", "1.2"]},
            format="json",
        )
    assert response.status_code == 202, response.json()
    reproduction = Reproduction.objects.get(pk=response.json()["id"])
    assert reproduction.kind == "bisect" and response.json()["versions"] == ["1.0", "1.1", "1.2"]
    run = reproduction.runs.get()
    assert queued_runs == [(run.pk, "repro.cpu")] and run.version == "1.0"


def test_bisection_errors_name_the_field(owner, queued_runs):
    reproducer = ReproducerFactory()
    url = f"/api/reproducers/{reproducer.pk}/bisections/"
    one = owner.post(url, {"package": "torch", "versions": ["2.0"]}, format="json")
    assert one.status_code == 400 and "versions" in one.json()["details"]
    twice = owner.post(url, {"package": "torch", "versions": ["2.0", "2.0"]}, format="json")
    assert twice.status_code == 400 and "listed twice" in twice.json()["details"]["versions"]
    bad_name = owner.post(url, {"package": "../evil", "versions": ["1", "2"]}, format="json")
    assert bad_name.status_code == 400 and "package" in bad_name.json()["details"]
    differential = ReproducerFactory(oracle="differential", compare_device="gpu")
    refused = owner.post(
        f"/api/reproducers/{differential.pk}/bisections/", {"package": "torch", "versions": ["1", "2"]}, format="json"
    )
    assert refused.status_code == 400 and "oracle" in refused.json()["details"]
    assert not Reproduction.objects.exists() and queued_runs == []


# --------------------------------------------------------------------------- reading


def test_reproduction_detail_has_runs_without_the_raw_captures(owner):
    runner = RunnerFactory(name="celery@cpu-7")
    reproduction = ReproductionFactory(status="done", summary="reproduced 1/1")
    ReproductionRunFactory(
        reproduction=reproduction,
        status="done",
        verdict="reproduced",
        runner=runner,
        exit_code=1,
        stderr_tail="Traceback...",
        stderr_bytes=100,
        outputs={"x": {"shape": [2], "dtype": "float32", "preview": "[1. 2.]", "nan": 0}},
        comparison={},
        captures=b"PK\x03\x04 not for the API",
    )
    response = owner.get(f"/api/reproductions/{reproduction.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["summary"] == "reproduced 1/1"
    (run,) = body["runs"]
    assert "captures" not in run
    assert run["verdict"] == "reproduced" and run["runner"] == "celery@cpu-7" and run["exit_code"] == 1
    assert run["stderr_dropped"] == 100 - len("Traceback...")
    assert run["outputs"]["x"]["shape"] == [2] and "comparison" in run
    assert run["page_url"].endswith(f"/reports/runs/{reproduction.runs.get().pk}/")


def test_runners_have_an_alive_flag(api_client, small_study, settings):
    settings.BUGSIFT_RUNNER_LOST_AFTER_SECONDS = 60
    RunnerFactory(name="celery@a", frameworks={"torch": "2.13.0"})
    RunnerFactory(name="celery@b", last_heartbeat=timezone.now() - timedelta(minutes=10))
    RunnerFactory(name="celery@c", stopped_at=timezone.now())
    api_client.force_authenticate(small_study["viewer"])
    rows = api_client.get("/api/runners/").json()["results"]
    assert {r["name"]: r["alive"] for r in rows} == {"celery@a": True, "celery@b": False, "celery@c": False}
    assert rows[0]["frameworks"] == {"torch": "2.13.0"}


def test_schema_documents_the_reproduction_endpoints(client, small_study):
    client.force_login(small_study["viewer"])
    paths = client.get("/api/schema/?format=json").json()["paths"]
    for path in (
        "/api/reports/{id}/reproducers/",
        "/api/reproducers/{id}/",
        "/api/reproducers/{id}/reproductions/",
        "/api/reproducers/{id}/bisections/",
        "/api/reproductions/{id}/",
        "/api/runners/",
    ):
        assert path in paths, path
