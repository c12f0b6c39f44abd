"""`manage.py reproduce`: the runners' environment, sandbox and oracle code, run here without a broker."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.fakes.tinypkg import build_wheels

pytestmark = pytest.mark.usefixtures("requires_bwrap")

JSON_FIELDS = {
    "status",
    "verdict",
    "exit_code",
    "signal",
    "duration_ms",
    "peak_memory_kb",
    "stdout_tail",
    "stderr_tail",
}


def reproduce(tmp_path, script: str, *args: str) -> str:
    path = tmp_path / "repro.py"
    path.write_text(script)
    out = StringIO()
    call_command("reproduce", "--script", str(path), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_json_has_the_run_and_its_verdict(tmp_path):
    script = "print('checking')\nraise SystemExit(3)\n"
    result = json.loads(reproduce(tmp_path, script, "--oracle", "assertion", "--expect", "exit 3", "--json"))
    assert JSON_FIELDS <= set(result)
    assert result["reason"] == "matched" and result["matched"] and result["compared"]
    assert result["expectation"] == {"exit_code": 3, "source": "given"}
    assert result["status"] == "done" and result["verdict"] == "reproduced" and result["summary"] == "reproduced 1/1"
    assert result["exit_code"] == 3 and result["signal"] is None and "checking" in result["stdout_tail"]
    assert result["peak_memory_kb"] > 0 and result["environment"]["ok"]


def test_repeat_counts_how_often_a_flaky_bug_shows(tmp_path):
    flaky = "import os, sys\nsys.exit(os.urandom(1)[0] % 2)  # the bug shows about half of the time\n"
    args = ["--oracle", "assertion", "--expect", "exit 1", "--repeat", "6", "--json"]
    result = json.loads(reproduce(tmp_path, flaky, *args))
    runs = result["runs"]
    shown = sum(1 for run in runs if run["verdict"] == "reproduced")
    assert len(runs) == 6 and result["reproduced"] == shown
    # The fraction is kept; some but not all conclusive runs reproduced: flaky (README's verdict rule).
    assert result["summary"] == f"reproduced {shown}/6" + (" (flaky)" if 0 < shown < 6 else "")
    assert all((run["exit_code"] == 1) == (run["verdict"] == "reproduced") for run in runs)


def test_hang_oracle_and_text_output(tmp_path):
    text = reproduce(tmp_path, "while True:\n    pass\n", "--oracle", "hang", "--timeout", "2")
    assert text.startswith("Verdict: reproduced (reproduced 1/1)")
    assert "limit" in text


def test_a_crash_that_does_not_happen_is_not_reproduced(tmp_path):
    result = json.loads(reproduce(tmp_path, "print(1 + 1)\n", "--json"))
    assert result["verdict"] == "not_reproduced" and result["exit_code"] == 0 and "2" in result["stdout_tail"]


def test_differential_between_two_versions(tmp_path, settings):
    settings.BUGSIFT_REPRO_WHEEL_DIR = str(build_wheels(tmp_path / "wheels"))
    settings.BUGSIFT_REPRO_OFFLINE = True
    script = "import tinypkg\nfrom bugsift_capture import save\nsave('sum', [tinypkg.add(2, 2)])\n"
    args = ["--oracle", "differential", "--requirements", "bugsift-tinypkg==1.1", "--json"]
    result = json.loads(reproduce(tmp_path, script, *args, "--compare-requirements", "bugsift-tinypkg==1.2"))
    assert result["verdict"] == "reproduced", result["detail"]
    assert result["comparison"]["items"][0]["status"] == "differs"
    assert result["side_a"]["requirements"] == ["bugsift-tinypkg==1.1"]
    assert result["side_b"]["outputs"]["sum"]["shape"] == [1]


@pytest.mark.parametrize(
    "script, args, words",
    [
        (None, [], "cannot read"),
        ("  \n", [], "is empty"),
        ("pass", ["--requirements", "torch @ https://example.com/t.whl"], "--requirements"),
        ("pass", ["--oracle", "differential"], "--compare-device or --compare-requirements"),
        ("pass", ["--compare-requirements", "numpy==2.0"], "only used with --oracle differential"),
        ("pass", ["--repeat", "0"], "--repeat must be"),
        ("pass", ["--timeout", "0"], "--timeout must be"),
        ("pass", ["--expect", "no such thing!"], "--expect"),
        ("pass", ["--signature", "abc"], "--signature is the 64"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(tmp_path, script, args, words):
    path = tmp_path / "repro.py"
    if script is not None:
        path.write_text(script)
    with pytest.raises(CommandError) as excinfo:
        call_command("reproduce", "--script", str(path), *args, stdout=StringIO())
    assert words in str(excinfo.value)


def test_gpu_is_refused_on_a_machine_without_one(tmp_path, settings):
    settings.BUGSIFT_GPU_CHECK_COMMAND = "false"
    with pytest.raises(CommandError) as excinfo:
        reproduce(tmp_path, "pass\n", "--device", "gpu")
    assert "no usable GPU" in str(excinfo.value)
