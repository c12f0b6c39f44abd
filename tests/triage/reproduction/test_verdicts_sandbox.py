"""Verdicts of real sandboxed runs (bubblewrap), one per failure class, each with its verdict and reason.

Through ``manage.py reproduce --json`` (the runners' environment, sandbox and oracle code) and, for crash
groups and re-judging, through the services with a crash group made by the crash intake from a
fuzzer-shaped report. Nothing is faked: the scripts run, fail as they fail, and are judged.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tests.fakes.tinypkg import build_wheels

pytestmark = pytest.mark.usefixtures("requires_bwrap")


@pytest.fixture
def offline_wheels(tmp_path, settings):
    settings.BUGSIFT_REPRO_WHEEL_DIR = str(build_wheels(tmp_path / "wheels"))
    settings.BUGSIFT_REPRO_OFFLINE = True


def reproduce(tmp_path, script: str, *args: str) -> dict:
    path = tmp_path / "repro.py"
    path.write_text(script)
    out = StringIO()
    call_command("reproduce", "--script", str(path), "--timeout", "60", *args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_a_forgotten_requirement_is_inconclusive_with_a_hint(tmp_path):
    result = reproduce(tmp_path, "import torch\ntorch.zeros(2)[5]\n", "--expect", "IndexError: out of bounds")
    assert result["verdict"] == "inconclusive" and result["reason"] == "missing_module"
    assert "add `torch` to the requirements" in result["hint"]
    assert result["observed"] == "ModuleNotFoundError: No module named 'torch'" and not result["matched"]


def test_a_syntax_error_in_the_script_is_inconclusive(tmp_path):
    pasted = ">>> import math\n>>> math.sqrt(-1)\n"  # a console session pasted as a script
    result = reproduce(tmp_path, pasted, "--expect", "ValueError: math domain error")
    assert result["verdict"] == "inconclusive" and result["reason"] == "script_syntax"
    assert "fix line 1" in result["hint"]


def test_the_expected_exception_reproduces(tmp_path):
    script = "import math\nmath.sqrt(-1)\n"
    result = reproduce(tmp_path, script, "--expect", "ValueError: math domain error")
    assert result["verdict"] == "reproduced" and result["reason"] == "matched" and result["matched"]
    assert result["expectation"] == {
        "exception_type": "ValueError",
        "message_pattern": "math domain error",
        "source": "given",
    }
    assert result["summary"] == "reproduced 1/1"


def test_a_different_exception_crashed_differently_and_shows_both(tmp_path):
    result = reproduce(tmp_path, "{}['missing']\n", "--expect", "IndexError: index out of range")
    assert result["verdict"] == "crashed_differently" and result["reason"] == "different_failure"
    assert "expected IndexError: index out of range" in result["detail"]
    assert "KeyError: 'missing'" in result["detail"] and result["observed"] == "KeyError: 'missing'"


def test_an_assertion_failing_reproduces_under_the_assertion_oracle(tmp_path):
    script = "result = sum([0.1] * 10)\nassert result == 1.0, f'sum is {result!r}'\n"
    result = reproduce(tmp_path, script, "--oracle", "assertion")
    assert result["verdict"] == "reproduced" and result["matched"]
    assert result["expectation"]["exception_type"] == "AssertionError"


def test_an_assertion_script_crashing_before_its_check_is_not_reproduced(tmp_path):
    script = "values = [1, 2, 3]\nfirst = values[10]\nassert first == 1\n"
    result = reproduce(tmp_path, script, "--oracle", "assertion")
    assert result["verdict"] == "crashed_differently" and "before its check" in result["detail"]
    assert result["observed"] == "IndexError: list index out of range"


def test_a_build_failure_is_inconclusive_with_the_requirement_named(tmp_path, offline_wheels):
    result = reproduce(tmp_path, "import tinypkg\n", "--requirements", "bugsift-tinypkg==9.9", "--expect", "TypeError")
    assert result["verdict"] == "inconclusive" and result["reason"] == "build_failed"
    assert "bugsift-tinypkg" in result["hint"] and result["environment"]["ok"] is False


def test_a_run_with_no_expectation_says_nothing_was_compared(tmp_path):
    result = reproduce(tmp_path, "raise RuntimeError('boom')\n")
    assert result["verdict"] == "reproduced" and result["reason"] == "no_expectation"
    assert result["compared"] is False and result["matched"] is False and result["expectation"] is None
    missing = reproduce(tmp_path, "import keras_nlp\n")  # set-up rules apply without an expectation too
    assert missing["verdict"] == "inconclusive" and missing["reason"] == "missing_module"


# --------------------------------------------------------------------------- crash groups and re-judging

# What a fuzzer reported: tinypkg.add("a", 1) raising inside the installed package.
FUZZER_TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/home/fuzz/FreeFuzz/src/run_tinypkg.py", line 41, in <module>\n'
    "    run_one(code)\n"
    '  File "<string>", line 2, in <module>\n'
    '  File "/home/fuzz/.venv/lib/python3.9/site-packages/tinypkg/__init__.py", line 7, in add\n'
    "    return a + b\n"
    'TypeError: can only concatenate str (not "int") to str\n'
)
OTHER_TRACE = FUZZER_TRACE.replace(
    'TypeError: can only concatenate str (not "int") to str',
    "TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'",
)
SCRIPT = 'import tinypkg\ntinypkg.add("a", 1)\n'


def _crash_group(client_id: str, trace: str):
    from triage.crashes.services import crashes_ingest
    from triage.models import CrashGroup

    payload = {
        "client_id": client_id,
        "fuzzer": "freefuzz",
        "framework": "tinypkg",
        "framework_version": "1.1",
        "api": "tinypkg.add",
        "oracle": "exception",
        "message": trace.strip().splitlines()[-1],
        "stack_trace": trace,
        "reproducer": SCRIPT,
    }
    result = crashes_ingest(reports=[payload], account=None)
    assert not result.refused
    return CrashGroup.objects.get(signature=result.stored[0]["signature"])


def _run_once(reproducer):
    from triage.reproduction import services

    reproduction = services.reproduction_start(reproducer=reproducer, repeat=1)
    run = reproduction.runs.get()
    services.run_execute(run_id=run.pk, runner_name="celery@sandbox-test")
    run.refresh_from_db()
    reproduction.refresh_from_db()
    return run, reproduction


@pytest.mark.django_db
def test_a_crash_group_signature_matches_or_not(offline_wheels):
    from triage.reproduction import services

    group = _crash_group("tiny-1", FUZZER_TRACE)
    other = _crash_group("tiny-2", OTHER_TRACE)
    assert group.signature != other.signature
    same = services.reproducer_create(
        report=group.report, script=SCRIPT, requirements="bugsift-tinypkg==1.1", timeout_seconds=60
    )
    assert same.expectation["signature"] == group.signature  # taken from the crash group
    run, reproduction = _run_once(same)
    assert run.verdict == "reproduced" and run.verdict_reason == "matched" and run.expectation_matched
    assert run.signature == group.signature and reproduction.summary == "reproduced 1/1"

    differs = services.reproducer_create(
        report=other.report, script=SCRIPT, requirements="bugsift-tinypkg==1.1", timeout_seconds=60
    )
    run, _ = _run_once(differs)
    assert run.verdict == "crashed_differently" and not run.expectation_matched
    assert group.signature[:12] in run.verdict_detail and other.signature[:12] in run.verdict_detail


@pytest.mark.django_db
def test_a_stored_run_is_judged_again_with_a_corrected_expectation_and_its_history_kept(offline_wheels):
    from tests.factories import ReportFactory, UserFactory
    from triage.reproduction import services

    report = ReportFactory(body="It fails with IndexError (no traceback pasted).")
    reproducer = services.reproducer_create(
        report=report, script=SCRIPT, requirements="bugsift-tinypkg==1.1", expect="IndexError", timeout_seconds=60
    )
    run, reproduction = _run_once(reproducer)
    assert run.verdict == "crashed_differently" and reproduction.summary.startswith("reproduced 0/1")
    stderr = run.stderr_tail
    someone = UserFactory(username="rita")
    run = services.run_rejudge(run=run, expect="TypeError: can only concatenate str", by=someone)
    assert run.verdict == "reproduced" and run.expectation_matched and run.stderr_tail == stderr
    assert [h["verdict"] for h in run.verdict_history] == ["crashed_differently", "reproduced"]
    assert run.verdict_history[0]["by"] is None and run.verdict_history[1]["by"] == "rita"
    assert run.verdict_history[1]["expectation"]["exception_type"] == "TypeError"
    reproduction.refresh_from_db()
    assert reproduction.summary == "reproduced 1/1" and reproduction.reproduced_count == 1

    out = StringIO()
    call_command("rejudge", str(run.pk), "--expect", "IndexError", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["verdict"] == "crashed_differently" and body["previous_verdict"] == "reproduced"
    assert len(body["history"]) == 3
