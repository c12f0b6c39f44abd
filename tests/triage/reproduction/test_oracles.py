"""Oracles: verdicts from sandbox results, hostile capture files, NaN-aware comparison."""

import json
import signal

import numpy as np
import pytest

from triage.crashes.signatures import sign
from triage.reproduction.expectations import parse_expect
from triage.reproduction.oracles import (
    VERDICTS,
    compare_captures,
    judge,
    judge_differential,
    load_captures,
    pack_captures,
    summarise_captures,
    unpack_captures,
)
from triage.reproduction.sandbox import SandboxResult

TRACE = """Traceback (most recent call last):
  File "/scratch/repro.py", line 4, in <module>
    main()
  File "/scratch/repro.py", line 2, in main
    raise RuntimeError("shape mismatch: 3 vs 4")
RuntimeError: shape mismatch: 3 vs 4
"""


def result(exit_code=0, sig=None, stderr="", limit="", captures=None):
    return SandboxResult(
        exit_code=exit_code,
        signal=sig,
        duration_s=0.1,
        peak_memory_kb=1000,
        stdout_tail="",
        stderr_tail=stderr,
        stdout_bytes=0,
        stderr_bytes=len(stderr),
        limit_hit=limit,
        captures_dir=captures,
    )


# --------------------------------------------------------------------------- single-run oracles


def test_hang_reproduced_only_by_a_time_limit():
    assert judge(oracle="hang", result=result(None, 9, limit="wall_time")).verdict == "reproduced"
    assert judge(oracle="hang", result=result(None, 9, limit="cpu_time")).verdict == "reproduced"
    finished = judge(oracle="hang", result=result(0))
    assert finished.verdict == "not_reproduced" and "exit code 0" in finished.detail
    assert judge(oracle="hang", result=result(None, 9, limit="memory")).verdict == "limit_exceeded"


@pytest.mark.parametrize("oracle", ["crash", "assertion"])
@pytest.mark.parametrize(
    "limit, words",
    [
        ("memory", "memory limit"),
        ("wall_time", "wall-clock time limit"),
        ("file_size", "file size limit"),
        ("processes", "process limit"),
    ],
)
def test_other_oracles_report_a_hit_limit(oracle, limit, words):
    judgement = judge(oracle=oracle, result=result(None, 9, limit=limit))
    assert judgement.verdict == "limit_exceeded" and words in judgement.detail


def test_crash_without_any_expectation_says_nothing_was_compared():
    assert judge(oracle="crash", result=result(0)).verdict == "not_reproduced"
    crashed = judge(oracle="crash", result=result(1, stderr=TRACE), framework="pytorch")
    expected = sign(framework="pytorch", oracle="crash", message=TRACE.strip().splitlines()[-1], stack_trace=TRACE)
    assert crashed.verdict == "reproduced" and "exit code 1" in crashed.detail
    assert "nothing was compared" in crashed.detail and crashed.reason == "no_expectation"
    assert not crashed.compared and not crashed.matched and crashed.expectation == {}
    assert crashed.observed == "RuntimeError: shape mismatch: 3 vs 4"
    assert crashed.signature == expected.signature


def test_crash_by_signal_names_it_and_matches_an_expected_signal():
    segv = result(None, int(signal.SIGSEGV), stderr="Segmentation fault")
    judgement = judge(oracle="crash", result=segv, expectation=parse_expect("SIGSEGV"))
    assert judgement.verdict == "reproduced" and "SIGSEGV" in judgement.detail and judgement.signature
    assert judgement.matched
    abort = judge(oracle="crash", result=result(None, int(signal.SIGABRT)), expectation=parse_expect("SIGSEGV"))
    assert abort.verdict == "crashed_differently" and "SIGABRT" in abort.detail and "SIGSEGV" in abort.detail


def test_crash_matches_or_misses_the_report_signature():
    mine = judge(oracle="crash", result=result(1, stderr=TRACE), framework="pytorch").signature
    same = judge(oracle="crash", result=result(1, stderr=TRACE), expected_signature=mine, framework="pytorch")
    assert same.verdict == "reproduced" and "signature" in same.detail
    other_trace = TRACE.replace("RuntimeError", "ValueError").replace("main", "other")
    other = judge(oracle="crash", result=result(1, stderr=other_trace), expected_signature=mine, framework="pytorch")
    assert other.verdict == "crashed_differently" and "not as expected" in other.detail
    assert mine[:12] in other.detail and other.signature[:12] in other.detail and other.signature != mine
    assert "ValueError" in other.observed and not other.matched


ASSERTION_TRACE = """Traceback (most recent call last):
  File "/scratch/main.py", line 3, in <module>
    assert out.shape == (2, 3), out.shape
AssertionError: (2, 4)
"""


def test_assertion_oracle_counts_only_an_assertion_error_or_the_declared_exit_code():
    shown = judge(oracle="assertion", result=result(1, stderr=ASSERTION_TRACE))
    assert shown.verdict == "reproduced" and shown.matched and shown.expectation["exception_type"] == "AssertionError"
    crashed = judge(oracle="assertion", result=result(1, stderr=TRACE))
    assert crashed.verdict == "crashed_differently" and "before its check" in crashed.detail
    bare = judge(oracle="assertion", result=result(3))
    assert bare.verdict == "inconclusive" and bare.reason == "undeclared_exit" and "exit 3" in bare.hint
    declared = judge(oracle="assertion", result=result(3), expectation=parse_expect("exit 3"))
    assert declared.verdict == "reproduced" and declared.matched
    other_code = judge(oracle="assertion", result=result(2), expectation=parse_expect("exit 3"))
    assert other_code.verdict == "crashed_differently"
    assert judge(oracle="assertion", result=result(None, int(signal.SIGABRT))).verdict == "crashed_differently"
    assert judge(oracle="assertion", result=result(0)).verdict == "not_reproduced"


def _trace(last: str, *, frames: str = '  File "/scratch/main.py", line 1, in <module>\n    x()\n') -> str:
    return "Traceback (most recent call last):\n" + frames + last + "\n"


@pytest.mark.parametrize(
    "stderr, reason, hint",
    [
        (_trace("ModuleNotFoundError: No module named 'torch'"), "missing_module", "add `torch` to the requirements"),
        (_trace("ModuleNotFoundError: No module named 'cv2'"), "missing_module", "`opencv-python`"),
        (
            _trace("ImportError: cannot import name 'ops' from 'keras' (/venv/keras/__init__.py)"),
            "missing_module",
            "pin the version of `keras`",
        ),
        (
            '  File "/scratch/main.py", line 4\n    >>> x = 1\n    ^^\nSyntaxError: invalid syntax\n',
            "script_syntax",
            "fix line 4",
        ),
        (
            _trace("RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU"),
            "no_gpu",
            "device gpu",
        ),
        (_trace("AssertionError: Torch not compiled with CUDA enabled"), "no_gpu", "GPU runner"),
        (
            _trace("urllib.error.URLError: <urlopen error [Errno -3] Temporary failure in name resolution>"),
            "download_blocked",
            "no pretrained weights",
        ),
        (
            _trace("Exception: URL fetch failure on https://storage.googleapis.com/mnist.npz: None -- [Errno -3]"),
            "download_blocked",
            "self-contained",
        ),
    ],
)
@pytest.mark.parametrize("oracle", ["crash", "assertion"])
def test_a_run_that_fails_before_the_bug_can_show_is_inconclusive_with_a_hint(oracle, stderr, reason, hint):
    expectation = parse_expect("IndexError: index out of range") if oracle == "crash" else None
    judgement = judge(oracle=oracle, result=result(1, stderr=stderr), expectation=expectation)
    assert judgement.verdict == "inconclusive" and judgement.reason == reason
    assert hint in judgement.hint and "Hint:" in judgement.detail and not judgement.matched


def test_a_set_up_failure_wins_over_a_bare_type_match_but_not_over_a_named_one():
    no_gpu = result(1, stderr=_trace("RuntimeError: Found no NVIDIA driver on your system."))
    assert judge(oracle="crash", result=no_gpu, expectation=parse_expect("RuntimeError")).verdict == "inconclusive"
    named = judge(oracle="crash", result=no_gpu, expectation=parse_expect("RuntimeError: Found no NVIDIA driver"))
    assert named.verdict == "reproduced" and named.matched
    missing = result(1, stderr=_trace("ModuleNotFoundError: No module named 'tensorflow.compat.v1'"))
    expected_import = judge(oracle="crash", result=missing, expectation=parse_expect("ModuleNotFoundError"))
    assert expected_import.verdict == "reproduced"  # the bug itself is a broken import


def test_message_patterns_ignore_numbers_and_case():
    run = result(1, stderr=_trace("IndexError: index 7 is out of bounds for dimension 0 with size 3"))
    taken = parse_expect("IndexError: index 5 is out of bounds for dimension 0 with size 2")
    assert judge(oracle="crash", result=run, expectation=taken).verdict == "reproduced"
    assert judge(oracle="crash", result=run, expectation=parse_expect("IndexError: OUT OF BOUNDS")).matched
    wrong = judge(oracle="crash", result=run, expectation=parse_expect("IndexError: negative index"))
    assert wrong.verdict == "crashed_differently" and "does not match" in wrong.detail


def test_differential_needs_both_sides_and_unknown_oracle_is_refused():
    assert judge(oracle="differential", result=result(0)).verdict == "inconclusive"
    with pytest.raises(ValueError, match="unknown oracle"):
        judge(oracle="vibes", result=result(0))
    assert {"reproduced", "not_reproduced", "crashed_differently", "inconclusive", "limit_exceeded"} <= set(VERDICTS)


# --------------------------------------------------------------------------- captures


def test_load_captures_reads_npy_and_json(tmp_path):
    np.save(tmp_path / "logits.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    (tmp_path / "loss.json").write_text(json.dumps([0.5, 0.25]))
    (tmp_path / "notes.txt").write_text("ignored")
    arrays, messages = load_captures(tmp_path)
    assert messages == []
    assert sorted(arrays) == ["logits", "loss"]
    assert arrays["logits"].dtype == np.float32 and arrays["logits"].shape == (2, 3)
    assert arrays["loss"].tolist() == [0.5, 0.25]
    assert load_captures(None) == ({}, []) and load_captures(tmp_path / "absent") == ({}, [])


def test_hostile_capture_files_become_messages(tmp_path, monkeypatch):
    ran = tmp_path / "pickle-ran"
    # A pickled object array whose unpickling would create a file: allow_pickle=False must refuse it.
    payload = np.array([ran], dtype=object)
    with open(tmp_path / "evil.npy", "wb") as fh:
        np.lib.format.write_array(fh, payload, allow_pickle=True)
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY not really")
    # A tiny file that claims a 8 TB array.
    with open(tmp_path / "huge.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "dict.json").write_text('{"a": 1}')
    (tmp_path / "big.npy").write_bytes(b"\0" * 2000)
    (tmp_path / "link.npy").symlink_to("/etc/passwd")
    np.save(tmp_path / "ok.npy", np.ones(3))
    arrays, messages = load_captures(tmp_path, max_bytes=1500)
    assert list(arrays) == ["ok"]
    text = "\n".join(messages)
    for name in ("evil.npy", "garbage.npy", "huge.npy", "bad.json", "dict.json", "big.npy", "link.npy"):
        assert name in text
    assert "capture limit" in text and "not a regular file" in text
    assert not ran.exists()


def test_pack_and_unpack_round_trip_any_name():
    arrays = {"file": np.array([1.5, np.nan]), "labels": np.array(["a", "b"]), "x": np.int64(3)}
    blob = pack_captures(arrays)
    back = unpack_captures(blob)
    assert sorted(back) == ["file", "labels", "x"]
    np.testing.assert_array_equal(back["file"], arrays["file"])
    assert back["labels"].tolist() == ["a", "b"] and back["x"] == 3
    assert pack_captures({}) == b"" and unpack_captures(b"") == {} and unpack_captures(None) == {}
    assert unpack_captures(b"not a zip") == {}


def test_summarise_captures():
    summary = summarise_captures({"big": np.arange(10_000.0), "n": np.array([np.nan, 1.0, np.nan])})
    assert summary["big"]["shape"] == [10000] and summary["big"]["dtype"] == "float64"
    assert len(summary["big"]["preview"]) <= 300 and "..." in summary["big"]["preview"]
    assert summary["n"]["nan"] == 2 and summary["big"]["nan"] == 0
    json.dumps(summary)


# --------------------------------------------------------------------------- comparison


def statuses(comparison):
    return {item["name"]: item["status"] for item in comparison["items"]}


def test_compare_within_tolerance_and_nan_aware():
    a = {"x": np.array([1.0, np.nan, np.inf, -np.inf]), "y": np.array([1.0, 2.0])}
    b = {"x": np.array([1.0 + 1e-9, np.nan, np.inf, -np.inf]), "y": np.array([1.0, 2.0 + 1e-3])}
    loose = compare_captures(a, b, rtol=1e-2, atol=0)
    assert loose["equal"] and statuses(loose) == {"x": "equal", "y": "equal"}
    strict = compare_captures(a, b, rtol=1e-6, atol=0)
    assert not strict["equal"] and statuses(strict) == {"x": "equal", "y": "differs"}
    y = strict["items"][1]
    assert y["mismatched"] == 1 and y["total"] == 2 and y["max_abs_diff"] == pytest.approx(1e-3)
    json.dumps(strict, allow_nan=False)


def test_compare_nan_on_one_side_differs_and_stays_json_safe():
    cmp = compare_captures({"x": np.array([1.0, 2.0])}, {"x": np.array([1.0, np.nan])}, rtol=1e-5, atol=1e-8)
    item = cmp["items"][0]
    assert item["status"] == "differs" and item["mismatched"] == 1 and item["max_abs_diff"] == "inf"
    json.dumps(cmp, allow_nan=False)
    inf = compare_captures({"x": np.array([np.inf])}, {"x": np.array([-np.inf])}, rtol=1e-5, atol=0)
    assert statuses(inf) == {"x": "differs"}


def test_compare_shape_dtype_missing_and_non_numeric():
    a = {
        "s": np.zeros((2, 3)),
        "d": np.zeros(3, np.float32),
        "only_a": np.ones(1),
        "t": np.array(["a", "b"]),
        "b": np.array([True, False]),
        "i": np.array([1, 2], dtype=np.uint8),
    }
    b = {
        "s": np.zeros((3, 2)),
        "d": np.zeros(3, np.float64),
        "only_b": np.ones(1),
        "t": np.array(["a", "c"]),
        "b": np.array([True, False]),
        "i": np.array([1, 250], dtype=np.uint8),
    }
    cmp = compare_captures(a, b, rtol=0, atol=0)
    assert statuses(cmp) == {
        "s": "shape",
        "d": "dtype",
        "only_a": "missing_b",
        "only_b": "missing_a",
        "t": "differs",
        "b": "equal",
        "i": "differs",
    }
    by_name = {i["name"]: i for i in cmp["items"]}
    assert "[2, 3]" in by_name["s"]["detail"] and "float32" in by_name["d"]["detail"]
    assert by_name["i"]["max_abs_diff"] == 248.0 and by_name["t"]["mismatched"] == 1
    assert not cmp["equal"]
    json.dumps(cmp, allow_nan=False)
    with pytest.raises(ValueError, match="rtol and atol"):
        compare_captures(a, b, rtol=-1, atol=0)


def test_judge_differential():
    ok = result(0)
    differs = compare_captures({"x": np.array([1.0])}, {"x": np.array([2.0])}, rtol=1e-5, atol=1e-8)
    same = compare_captures({"x": np.array([1.0])}, {"x": np.array([1.0])}, rtol=1e-5, atol=1e-8)
    reproduced = judge_differential(a=ok, b=ok, comparison=differs)
    assert reproduced.verdict == "reproduced" and "x" in reproduced.detail
    assert judge_differential(a=ok, b=ok, comparison=same).verdict == "not_reproduced"
    nothing = judge_differential(a=ok, b=ok, comparison=compare_captures({}, {}, rtol=0, atol=0))
    assert nothing.verdict == "inconclusive" and "bugsift_capture.save" in nothing.detail
    failed = judge_differential(a=ok, b=result(1, stderr="ImportError: no cuda"), comparison=differs)
    assert failed.verdict == "inconclusive" and "side B" in failed.detail and "exit code 1" in failed.detail
    limited = judge_differential(a=result(None, 9, limit="memory"), b=ok, comparison=differs)
    assert limited.verdict == "inconclusive" and "side A" in limited.detail and "memory" in limited.detail
