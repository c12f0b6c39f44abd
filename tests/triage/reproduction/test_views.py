"""Reproduction web pages: the report page's section, the attach form, starting checks and bisections,
the reproduction and run pages, the runners page, and the labelling page's suggestion.

No run executes here: services queue a Celery task on commit, which these tests record; finished runs
are rows written directly (execution is tested in tests/triage/reproduction/).
"""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import (
    ReportFactory,
    ReproducerFactory,
    ReproductionFactory,
    ReproductionRunFactory,
    RunnerFactory,
)
from triage.models import CodeBlock, CrashGroup, Environment, Report, Reproducer, Reproduction, ReproductionRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(db):
    report = ReportFactory()
    CodeBlock.objects.create(report=report, language="bash", code="pip install torch", position=0)
    CodeBlock.objects.create(
        report=report, language="python", code="import torch\nprint(torch.ones(2))", is_python=True
    )
    return report


def _section(client, report):
    return client.get(reverse("triage:report-reproduction", args=[report.pk]))


# --------------------------------------------------------------------------- permissions


def test_anonymous_is_sent_to_log_in(client, report):
    reproducer = ReproducerFactory(report=report)
    for url in (
        reverse("triage:report-reproduction", args=[report.pk]),
        reverse("triage:reproducer-new", args=[report.pk]),
        reverse("triage:runner-list"),
        reverse("triage:reproduction-detail", args=[ReproductionFactory(reproducer=reproducer).pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url


@pytest.mark.parametrize(
    "who, status", [("researcher", 200), ("curator", 200), ("owner", 403), ("ann1", 403), ("viewer", 403)]
)
def test_only_researchers_curators_and_staff_attach(client, small_study, report, who, status):
    client.force_login(small_study[who])
    assert client.get(reverse("triage:reproducer-new", args=[report.pk])).status_code == status


def test_annotator_cannot_start_runs(client, small_study, report, queued_runs):
    reproducer = ReproducerFactory(report=report)
    client.force_login(small_study["ann1"])
    assert client.post(reverse("triage:reproducer-run", args=[reproducer.pk]), {"repeat": 2}).status_code == 403
    bisect = client.post(
        reverse("triage:reproducer-bisect", args=[reproducer.pk]), {"package": "torch", "versions": "2.0 2.1"}
    )
    assert bisect.status_code == 403
    assert not Reproduction.objects.exists() and queued_runs == []


# --------------------------------------------------------------------------- the report page's section


def test_report_page_loads_the_section(client, small_study, report):
    client.force_login(small_study["viewer"])
    page = client.get(reverse("triage:report-detail", args=[report.pk])).text
    assert f'hx-get="{reverse("triage:report-reproduction", args=[report.pk])}"' in page
    assert "Runners" in page  # nav link


def test_empty_section_explains_and_offers_python_blocks(client, small_study, report):
    client.force_login(small_study["researcher"])
    page = _section(client, report).text
    assert 'id="reproduction-empty"' in page and "oracle that decides" in page
    python_block = CodeBlock.objects.get(report=report, is_python=True)
    assert f"?code_block={python_block.pk}" in page
    assert "pip install torch" not in page  # only Python blocks are offered


def test_section_lists_reproducers_with_forms_only_for_owners(client, small_study, report):
    reproducer = ReproducerFactory(report=report, requirements="torch==2.13.0", oracle="crash", title="conv crash")
    ReproductionFactory(reproducer=reproducer, repeat=10, status="done", summary="reproduced 7/10")
    client.force_login(small_study["researcher"])
    page = _section(client, report).text
    assert "conv crash" in page and "torch==2.13.0" in page and "reproduced 7/10" in page
    assert reverse("triage:reproducer-run", args=[reproducer.pk]) in page
    assert reverse("triage:reproducer-bisect", args=[reproducer.pk]) in page
    client.force_login(small_study["viewer"])
    page = _section(client, report).text
    assert "reproduced 7/10" in page
    assert reverse("triage:reproducer-run", args=[reproducer.pk]) not in page
    assert "Attach a reproducer" not in page


def test_section_polls_only_while_something_runs(client, small_study, report):
    reproducer = ReproducerFactory(report=report)
    reproduction = ReproductionFactory(reproducer=reproducer, status="running")
    client.force_login(small_study["viewer"])
    assert "every 3s" in _section(client, report).text
    Reproduction.objects.filter(pk=reproduction.pk).update(status="done")
    assert "every 3s" not in _section(client, report).text


# --------------------------------------------------------------------------- attaching a reproducer


def _form(**fields):
    data = {
        "script": "",
        "title": "",
        "requirements": "",
        "oracle": "crash",
        "device": "cpu",
        "timeout_seconds": "300",
        "memory_mb": "4096",
        "compare_device": "",
        "compare_requirements": "",
        "rtol": "1e-5",
        "atol": "1e-8",
        "expect": "RuntimeError",
    }
    data.update(fields)
    return data


def test_attach_pasted_script(client, small_study, report):
    client.force_login(small_study["researcher"])
    response = client.post(
        reverse("triage:reproducer-new", args=[report.pk]),
        _form(script="raise SystemExit(3)\n", requirements="torch==2.13.0 numpy<2", oracle="assertion", title="t"),
    )
    assert response.status_code == 302
    reproducer = Reproducer.objects.get()
    assert response.url.endswith(f"#reproducer-{reproducer.pk}")
    assert reproducer.script == "raise SystemExit(3)\n" and reproducer.oracle == "assertion"
    assert reproducer.requirements.splitlines() == ["numpy<2", "torch==2.13.0"]
    assert reproducer.created_by == small_study["researcher"]


def test_attach_from_a_code_block(client, small_study, report):
    block = CodeBlock.objects.get(report=report, is_python=True)
    client.force_login(small_study["researcher"])
    form = client.get(reverse("triage:reproducer-new", args=[report.pk]), {"code_block": block.pk}).text
    assert f'value="{block.pk}" checked' in form and "print(torch.ones(2))" in form
    response = client.post(reverse("triage:reproducer-new", args=[report.pk]), _form(code_block=block.pk))
    assert response.status_code == 302
    reproducer = Reproducer.objects.get()
    assert reproducer.code_block == block and reproducer.script == block.code


def test_attach_by_upload_and_refuse_other_files(client, small_study, report):
    client.force_login(small_study["researcher"])
    url = reverse("triage:reproducer-new", args=[report.pk])
    upload = SimpleUploadedFile("repro.py", b"import os\nos._exit(1)\n", content_type="text/x-python")
    assert client.post(url, {**_form(), "upload": upload}).status_code == 302
    assert Reproducer.objects.get().script == "import os\nos._exit(1)\n"
    notes = SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")
    response = client.post(url, {**_form(), "upload": notes})
    assert response.status_code == 400
    assert "notes.txt is not a .py file" in response.text
    big = SimpleUploadedFile("big.py", b"#" * (1024 * 1024 + 1), content_type="text/x-python")
    response = client.post(url, {**_form(), "upload": big})
    assert response.status_code == 400 and "the limit is 1 MB" in response.text
    assert Reproducer.objects.count() == 1


def test_service_errors_go_to_their_fields_and_keep_the_input(client, small_study, report):
    client.force_login(small_study["researcher"])
    response = client.post(
        reverse("triage:reproducer-new", args=[report.pk]),
        _form(script="print('kept <b>as typed</b>')", requirements="-e git+https://example.org/x", timeout_seconds="0"),
    )
    assert response.status_code == 400
    page = response.text
    assert 'id="err-requirements"' in page and 'id="err-timeout_seconds"' in page
    assert "86,400" in page and "installer option" in page
    assert "print(&#x27;kept &lt;b&gt;as typed&lt;/b&gt;&#x27;)" in page  # kept, escaped
    assert not Reproducer.objects.exists()


def test_empty_script_and_non_numbers_name_the_field(client, small_study, report):
    client.force_login(small_study["researcher"])
    url = reverse("triage:reproducer-new", args=[report.pk])
    response = client.post(url, _form())
    assert response.status_code == 400 and 'id="err-script"' in response.text
    assert "The script is empty" in response.text
    response = client.post(url, _form(script="x = 1", memory_mb="lots"))
    assert response.status_code == 400 and "Give the memory limit in whole MB" in response.text


def test_differential_needs_a_different_side_b(client, small_study, report):
    client.force_login(small_study["researcher"])
    url = reverse("triage:reproducer-new", args=[report.pk])
    response = client.post(url, _form(script="x = 1", oracle="differential"))
    assert response.status_code == 400 and 'id="err-compare_device"' in response.text
    response = client.post(url, _form(script="x = 1", oracle="differential", compare_device="gpu", rtol="1e-3"))
    assert response.status_code == 302
    reproducer = Reproducer.objects.get()
    assert (reproducer.device, reproducer.compare_device, reproducer.rtol) == ("cpu", "gpu", 1e-3)


def test_crash_report_prefills_the_smallest_reproducer(client, small_study):
    report = ReportFactory(kind=Report.Kind.CRASH, source_id="crash:abc")
    CrashGroup.objects.create(
        report=report,
        signature="a" * 64,
        signature_text="x",
        framework="pytorch",
        oracle="crash",
        smallest_reproducer="import torch\ntorch.zeros(-1)",
    )
    client.force_login(small_study["researcher"])
    page = client.get(reverse("triage:reproducer-new", args=[report.pk])).text
    assert "torch.zeros(-1)" in page


# --------------------------------------------------------------------------- starting runs


def test_run_queues_n_runs_on_the_devices_queue(
    client, small_study, report, queued_runs, django_capture_on_commit_callbacks
):
    cpu = ReproducerFactory(report=report, device="cpu")
    gpu = ReproducerFactory(report=report, device="gpu")
    client.force_login(small_study["researcher"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("triage:reproducer-run", args=[cpu.pk]), {"repeat": "3"})
    reproduction = Reproduction.objects.get(reproducer=cpu)
    assert response.status_code == 302 and response.url == reverse("triage:reproduction-detail", args=[reproduction.pk])
    assert reproduction.repeat == 3
    assert sorted(queued_runs) == sorted((run.pk, "repro.cpu") for run in reproduction.runs.all())
    queued_runs.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("triage:reproducer-run", args=[gpu.pk]), {"repeat": "1"})
    assert [queue for _, queue in queued_runs] == ["repro.gpu"]


def test_differential_cpu_against_gpu_queues_one_run_on_each(
    client, small_study, report, queued_runs, django_capture_on_commit_callbacks
):
    reproducer = ReproducerFactory(report=report, oracle="differential", device="cpu", compare_device="gpu")
    client.force_login(small_study["researcher"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("triage:reproducer-run", args=[reproducer.pk]), {"repeat": "1"})
    runs = {run.side: run for run in ReproductionRun.objects.all()}
    assert set(runs) == {"a", "b"}
    assert sorted(queued_runs) == sorted([(runs["a"].pk, "repro.cpu"), (runs["b"].pk, "repro.gpu")])


def test_bad_repeat_is_refused_with_a_message(client, small_study, report, queued_runs):
    reproducer = ReproducerFactory(report=report)
    client.force_login(small_study["researcher"])
    response = client.post(reverse("triage:reproducer-run", args=[reproducer.pk]), {"repeat": "0"}, follow=True)
    assert "Repeat must be a whole number from 1 to 100" in response.text
    assert not Reproduction.objects.exists() and queued_runs == []


def test_bisect_queues_the_first_step(client, small_study, report, queued_runs, django_capture_on_commit_callbacks):
    reproducer = ReproducerFactory(report=report, requirements="numpy<2")
    client.force_login(small_study["researcher"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("triage:reproducer-bisect", args=[reproducer.pk]),
            {"package": "bugsift-tinypkg", "versions": "1.0, 1.1 1.2\n1.3"},
        )
    reproduction = Reproduction.objects.get()
    assert response.url == reverse("triage:reproduction-detail", args=[reproduction.pk])
    assert reproduction.kind == "bisect" and reproduction.versions == ["1.0", "1.1", "1.2", "1.3"]
    run = reproduction.runs.get()
    assert run.version == "1.0" and "bugsift-tinypkg==1.0" in run.requirements.splitlines()
    assert queued_runs == [(run.pk, "repro.cpu")]


def test_bisect_errors_are_shown(client, small_study, report, queued_runs):
    reproducer = ReproducerFactory(report=report)
    client.force_login(small_study["researcher"])
    response = client.post(
        reverse("triage:reproducer-bisect", args=[reproducer.pk]), {"package": "torch", "versions": "2.0"}, follow=True
    )
    assert "Give at least two versions" in response.text
    assert not Reproduction.objects.exists()


# --------------------------------------------------------------------------- finished runs


def _done(reproduction, **fields):
    defaults = dict(status="done", exit_code=1, duration_ms=1234, peak_memory_kb=204800, attempt=1)
    return ReproductionRunFactory(reproduction=reproduction, **{**defaults, **fields})


def test_reproduction_page_shows_finished_runs_escaped(client, small_study, report):
    runner = RunnerFactory(name="celery@cpu-01")
    reproduction = ReproductionFactory(
        reproducer=ReproducerFactory(report=report), repeat=2, status="done", summary="reproduced 1/2"
    )
    _done(
        reproduction,
        index=0,
        runner=runner,
        verdict="reproduced",
        verdict_detail="exit code 1: the assertion failed",
        stderr_tail="<script>alert(1)</script>",
        stderr_bytes=5000,
        stdout_tail="hello",
        stdout_bytes=5,
        limit_hit="",
    )
    _done(reproduction, index=1, verdict="limit_exceeded", exit_code=None, signal=9, limit_hit="memory")
    client.force_login(small_study["viewer"])
    page = client.get(reverse("triage:reproduction-detail", args=[reproduction.pk])).text
    assert "reproduced 1/2" in page and "celery@cpu-01" in page and "exit code 1: the assertion failed" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f"{5000 - len('<script>alert(1)</script>')} earlier bytes dropped" in page
    assert "killed by signal 9" in page and "limit: memory" in page
    assert "1234 ms" in page and "200 MB" in page
    assert "hx-get" not in page  # done: no polling


def test_progress_partial_polls_until_done(client, small_study, report):
    reproduction = ReproductionFactory(reproducer=ReproducerFactory(report=report), repeat=2, status="running")
    ReproductionRunFactory(reproduction=reproduction, index=0, status="running")
    client.force_login(small_study["viewer"])
    url = reverse("triage:reproduction-progress", args=[reproduction.pk])
    assert f'hx-get="{url}"' in client.get(url).text
    Reproduction.objects.filter(pk=reproduction.pk).update(status="done", summary="reproduced 0/2")
    partial = client.get(url).text
    assert "hx-get" not in partial and "reproduced 0/2" in partial


def test_differential_run_shows_outputs_and_the_comparison(client, small_study, report):
    reproducer = ReproducerFactory(report=report, oracle="differential", device="cpu", compare_device="gpu")
    reproduction = ReproductionFactory(reproducer=reproducer, status="done", summary="reproduced 1/1")
    comparison = {
        "equal": False,
        "items": [
            {"name": "logits", "status": "different", "max_abs_diff": 0.25, "mismatched": 3, "total": 8, "detail": ""},
            {
                "name": "loss",
                "status": "missing_b",
                "max_abs_diff": None,
                "mismatched": None,
                "total": None,
                "detail": "saved only by side A",
            },
        ],
    }
    outputs = {"logits": {"shape": [2, 4], "dtype": "float32", "preview": "[[0.1 0.2 ...]]", "nan": 0}}
    for side, device in (("a", "cpu"), ("b", "gpu")):
        _done(
            reproduction,
            index=0,
            side=side,
            device=device,
            verdict="reproduced",
            exit_code=0,
            outputs=outputs,
            comparison=comparison,
        )
    client.force_login(small_study["viewer"])
    page = client.get(reverse("triage:reproduction-detail", args=[reproduction.pk])).text
    assert "Side A against side B" in page and page.count('class="table comparison"') == 1
    assert "3/8" in page and "0.25" in page and "saved only by side A" in page
    assert "2 × 4" in page and "float32" in page and "[[0.1 0.2 ...]]" in page


def test_build_failure_shows_the_build_log(client, small_study, report):
    env = Environment.objects.create(
        key="f" * 64, last_build_ok=False, last_build_log="ERROR: No matching distribution"
    )
    reproduction = ReproductionFactory(reproducer=ReproducerFactory(report=report), status="done")
    run = _done(reproduction, verdict="build_failed", exit_code=None, environment=env)
    client.force_login(small_study["viewer"])
    page = client.get(reverse("triage:run-detail", args=[run.pk])).text
    assert "ERROR: No matching distribution" in page and "build failed" in page and "ffffffffffff" in page


def test_bisect_timeline_shows_the_boundary(client, small_study, report):
    reproduction = ReproductionFactory(
        reproducer=ReproducerFactory(report=report),
        kind="bisect",
        package="bugsift-tinypkg",
        versions=["1.0", "1.1", "1.2", "1.3", "1.4"],
        status="done",
        summary="The bug was introduced in 1.2",
        bisect_result={
            "mode": "introduced",
            "message": "The bug was introduced in 1.2: 1.1 is the last good version, 1.2 the first bad one.",
            "last_good": "1.1",
            "first_bad": "1.2",
            "skipped": [],
        },
    )
    for index, (version, verdict) in enumerate(
        [("1.0", "not_reproduced"), ("1.4", "reproduced"), ("1.2", "reproduced"), ("1.1", "not_reproduced")]
    ):
        _done(reproduction, index=index, version=version, verdict=verdict)
    client.force_login(small_study["viewer"])
    for page in (
        client.get(reverse("triage:reproduction-detail", args=[reproduction.pk])).text,
        _section(client, report).text,
    ):
        order = [page.index(f'data-version="{v}"') for v in reproduction.versions]
        assert order == sorted(order)  # oldest first
        assert 'data-version="1.1" data-outcome="good" data-boundary="last_good"' in page
        assert 'data-version="1.2" data-outcome="bad" data-boundary="first_bad"' in page
        assert 'data-version="1.3" data-outcome="untested">' in page
        assert 'data-version="1.0" data-outcome="good">' in page
    assert (
        "1.1 is the last good version" in client.get(reverse("triage:reproduction-detail", args=[reproduction.pk])).text
    )


# --------------------------------------------------------------------------- runners


def test_runners_page_tells_alive_from_lost(client, small_study, settings):
    settings.BUGSIFT_RUNNER_LOST_AFTER_SECONDS = 60
    RunnerFactory(
        name="celery@gpu-01",
        device="gpu",
        queues=["repro.gpu"],
        cuda_version="12.4",
        gpus=["NVIDIA A100"],
        frameworks={"torch": "2.13.0"},
    )
    RunnerFactory(name="celery@old", last_heartbeat=timezone.now() - timedelta(minutes=5))
    client.force_login(small_study["viewer"])
    page = client.get(reverse("triage:runner-list")).text
    assert 'data-runner="celery@gpu-01" data-alive="1"' in page
    assert 'data-runner="celery@old" data-alive="0"' in page
    assert "NVIDIA A100" in page and "torch 2.13.0" in page and "12.4" in page and "repro.gpu" in page
    assert page.count('badge bad">lost') == 1


def test_runners_page_empty_state_says_how_to_start_one(client, small_study):
    client.force_login(small_study["viewer"])
    page = client.get(reverse("triage:runner-list")).text
    assert "celery -A config worker -Q repro.cpu" in page and "repro.gpu" in page


# --------------------------------------------------------------------------- label suggestion


def _label_page(client, s, item):
    return client.get(reverse("labelling:label-item", args=[s["study"].slug, item.id]))


@pytest.fixture
def labelling_study(labelling_study):
    """The labelling study with reproduction suggestions switched on (a study's own setting)."""
    from labelling.services.studies import study_update

    study_update(study=labelling_study["study"], data={"reproduction_suggestions": True})
    labelling_study["study"].refresh_from_db()
    return labelling_study


def _confirmed(reproduction, **fields):
    """A run that reproduced by matching its expectation: the only kind that suggests a label."""
    return _done(reproduction, verdict="reproduced", expectation_matched=True, **fields)


def test_label_page_offers_the_reproductions_suggestion(client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    reproduction = ReproductionFactory(reproducer=ReproducerFactory(report=item.report, oracle="crash"), status="done")
    _confirmed(reproduction)
    client.force_login(s["ann1"])
    page = _label_page(client, s, item).text
    assert "Reproduction suggests: <strong>Crash</strong>" in page
    assert 'class="accept-suggestion" data-target="value-symptom" value="crash"' in page
    assert f"confirmed by reproduction #{reproduction.pk} (crash oracle" in page
    run = reproduction.runs.get()
    assert f'href="/reports/runs/{run.pk}/" class="suggestion-run">run {run.pk}</a>' in page
    assert 'value="crash" data-shortcut="1" data-name="Crash" checked' not in page  # never preselected
    other = _label_page(client, s, s["items"][1]).text
    assert "Reproduction suggests" not in other


def test_label_page_suggests_nothing_without_a_confirmed_run(client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    reproducer = ReproducerFactory(report=item.report, oracle="hang")
    _done(ReproductionFactory(reproducer=reproducer), verdict="not_reproduced")
    client.force_login(s["ann1"])
    assert "Reproduction suggests" not in _label_page(client, s, item).text
    _confirmed(ReproductionFactory(reproducer=reproducer))
    assert 'value="hang"' in _label_page(client, s, item).text.split("Reproduction suggests")[1]


def test_suggestion_outside_the_codebook_is_not_shown(client, labelling_study):
    s = labelling_study  # its symptom categories: crash, hang, wrong_output
    item = s["items"][0]
    reproduction = ReproductionFactory(reproducer=ReproducerFactory(report=item.report, oracle="assertion"))
    _confirmed(reproduction)
    client.force_login(s["ann1"])
    assert "Reproduction suggests" not in _label_page(client, s, item).text


def test_label_suggestions_cost_one_query(client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    for oracle in ("crash", "hang"):
        _confirmed(ReproductionFactory(reproducer=ReproducerFactory(report=item.report, oracle=oracle)))
    client.force_login(s["ann1"])
    with CaptureQueriesContext(connection) as queries:
        page = _label_page(client, s, item).text
    assert "<strong>Crash</strong>" in page and "<strong>Hang</strong>" in page
    touching = [q["sql"] for q in queries.captured_queries if "triage_reproduction" in q["sql"].lower()]
    assert len(touching) == 1


def _bisection(report, result: dict, package: str = "torch"):
    reproducer = ReproducerFactory(report=report, oracle="assertion")
    return ReproductionFactory(
        reproducer=reproducer, kind="bisect", status="done", package=package, bisect_result=result
    )


def test_a_bisection_suggests_the_buggy_version_as_a_text_answer(client, labelling_study):
    from labelling.models import Dimension
    from tests.factories import DimensionFactory

    s = labelling_study
    item = s["items"][0]
    DimensionFactory(codebook=s["study"].codebook, code="buggy_version", name="Buggy version", kind=Dimension.Kind.TEXT)
    bisection = _bisection(item.report, {"mode": "introduced", "last_good": "2.11.0", "first_bad": "2.12.0"})
    client.force_login(s["ann1"])
    page = _label_page(client, s, item).text
    assert "Reproduction suggests: <strong>torch==2.12.0</strong>" in page
    assert 'data-target="value-buggy_version" data-text="torch==2.12.0"' in page
    assert f"found by bisection #{bisection.pk} over torch versions" in page
    assert 'name="value-buggy_version" class="text-value" rows="2"></textarea>' in page  # not filled in for them


def test_suggestions_from_differential_runs_and_fix_bisections(labelling_study):
    from triage.reproduction.selectors import label_suggestions_for

    report = labelling_study["items"][0].report
    shape = ReproductionFactory(reproducer=ReproducerFactory(report=report, oracle="differential"), status="done")
    _confirmed(shape, comparison={"equal": False, "items": [{"name": "out", "status": "shape"}]})
    _bisection(report, {"mode": "fixed", "last_bad": "1.3", "first_good": "1.4"}, package="bugsift-tinypkg")
    found = label_suggestions_for(report)
    plain = [{k: v for k, v in f.items() if k != "runs"} for f in found]
    assert {"dimension_code": "effect", "category_code": "wrong_shape", "reason": ANY_REASON} in plain
    assert {"dimension_code": "symptom", "category_code": "incorrect_functionality", "reason": ANY_REASON} in plain
    texts = {s["dimension_code"]: s["text"] for s in found if "text" in s}
    assert texts == {"fixed_version": "bugsift-tinypkg==1.4", "buggy_version": "bugsift-tinypkg==1.3"}

    other = ReportFactory()
    values = ReproductionFactory(reproducer=ReproducerFactory(report=other, oracle="differential"), status="done")
    _confirmed(values, comparison={"equal": False, "items": [{"name": "out", "status": "differs"}]})
    _done(values, index=1, verdict="not_reproduced", comparison={"equal": True, "items": []})
    effects = [s["category_code"] for s in label_suggestions_for(other) if s["dimension_code"] == "effect"]
    assert effects == ["wrong_calculation"]
    assert label_suggestions_for(ReportFactory()) == []


def test_an_unmatched_or_old_reproduced_verdict_suggests_nothing(client, labelling_study):
    """A crash judged with nothing to compare, or by the old any-non-zero-exit rule, is not evidence."""
    s = labelling_study
    item = s["items"][0]
    reproducer = ReproducerFactory(report=item.report, oracle="crash")
    _done(ReproductionFactory(reproducer=reproducer), verdict="reproduced", verdict_reason="no_expectation")
    _done(ReproductionFactory(reproducer=reproducer), verdict="reproduced", verdict_reason="old_rules")
    client.force_login(s["ann1"])
    assert "Reproduction suggests" not in _label_page(client, s, item).text
    _confirmed(ReproductionFactory(reproducer=reproducer))
    assert "Reproduction suggests: <strong>Crash</strong>" in _label_page(client, s, item).text


def test_conflicting_suggestions_for_one_dimension_are_shown_together_with_their_runs(client, labelling_study):
    s = labelling_study  # symptom is single choice: crash, hang, wrong_output
    item = s["items"][0]
    crash = ReproductionFactory(reproducer=ReproducerFactory(report=item.report, oracle="crash"))
    hang = ReproductionFactory(reproducer=ReproducerFactory(report=item.report, oracle="hang"))
    crash_run, hang_run = _confirmed(crash), _confirmed(hang)
    client.force_login(s["ann1"])
    page = _label_page(client, s, item).text
    block = page.split('data-conflict="symptom"')[1].split("</div>")[0]
    assert "Conflicting evidence:" in block and "2 different answers" in block
    assert "<strong>Crash</strong>" in block and "<strong>Hang</strong>" in block
    assert f'href="/reports/runs/{crash_run.pk}/"' in block and f'href="/reports/runs/{hang_run.pk}/"' in block
    assert 'data-conflict="component"' not in page


def test_suggestions_follow_the_studys_switch(client, labelling_study):
    from labelling.services.studies import study_update

    s = labelling_study
    item = s["items"][0]
    _confirmed(ReproductionFactory(reproducer=ReproducerFactory(report=item.report, oracle="crash")))
    client.force_login(s["ann1"])
    assert "Reproduction suggests" in _label_page(client, s, item).text
    study_update(study=s["study"], data={"reproduction_suggestions": False})
    with CaptureQueriesContext(connection) as queries:
        page = _label_page(client, s, item).text
    assert "Reproduction suggests" not in page and "accept-suggestion" not in page
    assert not [q for q in queries.captured_queries if "triage_reproduction" in q["sql"]]  # not even read


class _AnyReason(str):
    def __eq__(self, other):
        return isinstance(other, str) and other.startswith(("confirmed by reproduction #", "found by bisection #"))

    __hash__ = str.__hash__


ANY_REASON = _AnyReason("any reason")


# --------------------------------------------------------------------------- expectations and re-judging


def test_attach_form_shows_the_expectation_taken_from_the_report_and_takes_a_correction(client, small_study):
    report = ReportFactory(
        body="<details><summary>trace</summary>\n\n```\nTraceback (most recent call last):\n"
        '  File "r.py", line 1, in <module>\n    torch.zeros(2)[5]\n'
        "IndexError: index 5 is out of bounds for dimension 0 with size 2\n```\n</details>\n"
    )
    client.force_login(small_study["researcher"])
    url = reverse("triage:reproducer-new", args=[report.pk])
    page = client.get(url).text
    assert "Taken from the report body" in page
    assert 'value="IndexError: index 5 is out of bounds for dimension 0 with size 2"' in page
    response = client.post(url, _form(script="import torch", expect="RuntimeError: expected a long tensor"))
    assert response.status_code == 302
    reproducer = Reproducer.objects.get(report=report)
    assert reproducer.expectation == {
        "exception_type": "RuntimeError",
        "message_pattern": "expected a long tensor",
        "source": "given",
    }
    bad = client.post(url, _form(script="import torch", expect="?? not a failure"))
    assert bad.status_code == 400 and 'id="err-expect"' in bad.text


def test_attach_form_without_a_traceback_asks_for_the_failure(client, small_study, report):
    client.force_login(small_study["researcher"])
    url = reverse("triage:reproducer-new", args=[report.pk])
    assert "The report has no traceback or crash signature" in client.get(url).text
    response = client.post(url, _form(script="import torch", expect=""))
    assert response.status_code == 400 and "Say which failure shows the bug" in response.text


def _stored_crash(report, **fields):
    reproducer = ReproducerFactory(report=report, oracle="crash", expectation={"exception_type": "IndexError"})
    reproduction = ReproductionFactory(reproducer=reproducer, status="done", repeat=1, summary="reproduced 0/1")
    trace = "Traceback (most recent call last):\n  File \"/scratch/main.py\", line 1, in <module>\nKeyError: 'w'\n"
    defaults = dict(
        verdict="crashed_differently", stderr_tail=trace, verdict_history=[{"verdict": "crashed_differently"}]
    )
    return _done(reproduction, **{**defaults, **fields})


def test_run_page_shows_the_expectation_and_judges_again_for_researchers_only(client, small_study, report):
    run = _stored_crash(report)
    client.force_login(small_study["viewer"])
    page = client.get(reverse("triage:run-detail", args=[run.pk])).text
    assert "Verdict history" in page and "Judge again" not in page
    assert client.post(reverse("triage:run-rejudge", args=[run.pk]), {"expect": "KeyError"}).status_code == 403
    client.force_login(small_study["researcher"])
    page = client.get(reverse("triage:run-detail", args=[run.pk])).text
    assert f'action="/reports/runs/{run.pk}/rejudge/"' in page and 'value="IndexError"' in page
    response = client.post(reverse("triage:run-rejudge", args=[run.pk]), {"expect": "KeyError: 'w'"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.verdict == "reproduced" and run.expectation_matched
    assert [h["verdict"] for h in run.verdict_history] == ["crashed_differently", "reproduced"]
    assert run.verdict_history[-1]["by"] == small_study["researcher"].username
    assert run.reproduction.__class__.objects.get(pk=run.reproduction_id).summary == "reproduced 1/1"
    page = client.get(reverse("triage:run-detail", args=[run.pk])).text
    assert page.count("<tr><td>") >= 2 and "matched" in page
    bad = client.post(reverse("triage:run-rejudge", args=[run.pk]), {"expect": "!!"})
    assert bad.status_code == 400 and "exception type" in bad.text


def test_rejudge_api(api_client, small_study, report):
    run = _stored_crash(report)
    api_client.force_authenticate(small_study["researcher"])
    url = f"/api/reproduction-runs/{run.pk}/rejudge/"
    response = api_client.post(url, {"expect": "KeyError"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["verdict"] == "reproduced" and body["expectation_matched"] and len(body["verdict_history"]) == 2
    assert body["expectation"] == {"exception_type": "KeyError", "source": "given when judging again"}
    refused = api_client.post(url, {"signature": "xyz"}, format="json")
    assert refused.status_code == 400 and "signature" in refused.json()["details"]
    queued = ReproductionRunFactory(reproduction=run.reproduction, status="queued")
    not_done = api_client.post(f"/api/reproduction-runs/{queued.pk}/rejudge/", {}, format="json")
    assert not_done.status_code == 400 and "once it is done" in not_done.json()["message"]
    api_client.force_authenticate(small_study["ann1"])
    assert api_client.post(url, {}, format="json").status_code == 403
