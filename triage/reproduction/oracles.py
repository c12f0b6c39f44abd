"""Oracles: decide from a sandboxed run whether the bug showed.

    judge(oracle=, result=, expectation=, framework=) -> Judgement     crash | assertion | hang
    setup_failure(result, observed) -> SetupFailure | None                 the run failed before the bug could show
    load_captures(dir) / pack_captures / unpack_captures / summarise_captures
    compare_captures(a, b, rtol=, atol=) -> dict
    judge_differential(a=, b=, comparison=) -> Judgement

A differential run has two sides (CPU against GPU, version A against version B); each side's
script saves arrays with ``bugsift_capture.save``; the worker loads both, compares them here and
judges. Captures come from hostile scripts: they are read with ``allow_pickle=False`` and JSON
only, size-capped, and a bad file becomes a message, never an exception or code execution.

Verdict rules of the single-run oracles (README "Reproduction verdicts" says the same):

* a run stopped by a sandbox limit is ``limit_exceeded`` (the hang oracle: a time limit is the bug);
* a run that failed before the bug could show -- a module the script imports is not installed
  (ImportError / ModuleNotFoundError), the script is not valid Python (SyntaxError in main.py), no
  CUDA device, a download the sandbox's empty network blocked -- is ``inconclusive`` with the reason
  and a hint, whatever the expectation (unless the expectation names that very failure, message
  included); an environment that does not build is ``inconclusive`` too (``execute_side``);
* crash: ``reproduced`` only when the failure matches the expectation (the crash group's signature,
  or the exception type and message pattern, or the exit code or signal); another failure is
  ``crashed_differently``, with both; no failure is ``not_reproduced``. With no expectation at all a
  crash that is not a set-up failure is ``reproduced`` with ``compared=False``: nothing was compared,
  and such a verdict never becomes a label suggestion;
* assertion: only an ``AssertionError`` (or the declared exit code) is ``reproduced``; another
  exception is ``crashed_differently`` (it crashed before its check); a bare non-zero exit without a
  declared exit code is ``inconclusive``.

No Django here (only the signature and expectation functions), so the management command and tests
can use it without a database.
"""

from __future__ import annotations

import io
import json
import math
import re
import signal as signals
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from triage.crashes.signatures import sign
from triage.reproduction.expectations import Expectation, Observed, compare, observed_failure

VERDICTS = (
    "reproduced",
    "not_reproduced",
    "crashed_differently",
    "inconclusive",
    "limit_exceeded",
    "build_failed",
    "refused",
    "lost",
)
# The verdict rules' version, kept in each run's verdict history (1 was "any non-zero exit reproduces").
RULES_VERSION = 2
ASSERTION = Expectation(exception_type="AssertionError", source="assertion oracle")
ORACLES = ("crash", "assertion", "differential", "hang")
LIMIT_WORDS = {
    "wall_time": "the wall-clock time limit",
    "cpu_time": "the CPU time limit",
    "memory": "the memory limit",
    "file_size": "the file size limit",
    "processes": "the process limit",
    "output": "the output limit",
}
PREVIEW_CHARS = 300
MAX_CAPTURE_FILES = 200


@dataclass
class Judgement:
    verdict: str
    detail: str
    signature: str = ""
    reason: str = ""  # a short code: matched, different_failure, missing_module, script_syntax, ...
    hint: str = ""  # what to change so the run can show the bug
    expectation: dict = field(default_factory=dict)  # the expectation compared (Expectation.as_dict)
    compared: bool = False  # an expectation was compared with the run's failure
    matched: bool = False  # ... and the failure was the expected one
    observed: str = ""  # the run's failure in one line


@dataclass(frozen=True, slots=True)
class SetupFailure:
    reason: str
    detail: str
    hint: str


# Python module -> the package to install, where they differ.
PACKAGE_OF_MODULE = {
    "cv2": "opencv-python",
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "skimage": "scikit-image",
    "tf_keras": "tf-keras",
    "google": "protobuf",
    "bs4": "beautifulsoup4",
    "jaxlib": "jaxlib",
    "mx": "mxnet",
}
NO_GPU_MARKERS = (
    "found no nvidia driver",
    "no cuda gpus are available",
    "torch not compiled with cuda enabled",
    "cuda driver version is insufficient",
    "cuda_error_no_device",
    "no cuda-capable device is detected",
    "cuinit: cuda_error",
    "could not load dynamic library 'libcuda",
    "failed call to cuinit",
    "unknown backend: 'gpu' requested",
    "unknown backend gpu",
    "no visible gpu devices",
    "cannot access gpu",
)
NETWORK_MARKERS = (
    "temporary failure in name resolution",
    "name or service not known",
    "nodename nor servname provided",
    "network is unreachable",
    "urlopen error",
    "failed to establish a new connection",
    "max retries exceeded with url",
    "url fetch failure",
    "couldn't connect to 'https://huggingface.co'",
    "we couldn't connect to",
    "connection refused",
    "getaddrinfo failed",
)
NETWORK_TYPES = ("URLError", "gaierror", "ConnectionError", "ConnectTimeout", "LocalEntryNotFoundError")
SETUP_TYPES = ("ModuleNotFoundError", "ImportError", "SyntaxError", "IndentationError", "TabError")
_NO_MODULE = re.compile(r"No module named '?(?P<name>[\w.]+)'?")
_CANNOT_IMPORT = re.compile(r"cannot import name '?(?P<name>[\w.]+)'? from '?(?P<module>[\w.]+)'?")
_SCRIPT_LINE = re.compile(r'File "(?:/scratch/)?main\.py", line (?P<line>\d+)')


# --------------------------------------------------------------------------- single-run oracles


def _limit_words(limit: str) -> str:
    return LIMIT_WORDS.get(limit, f"the {limit.replace('_', ' ')} limit")


def _how_it_ended(result) -> str:
    """ "exit code 3" or "killed by signal SIGSEGV (11)"."""
    if result.signal:
        try:
            name = signals.Signals(result.signal).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {name} ({result.signal})"
    return f"exit code {result.exit_code}"


def _failed(result) -> bool:
    return bool(result.signal) or (result.exit_code not in (0, None))


def _last_line(text: str) -> str:
    for line in reversed((text or "").splitlines()):
        if line.strip():
            return line.strip()
    return ""


def setup_failure(result, observed: Observed) -> SetupFailure | None:
    """Why a failed run ended before the bug could show, with a hint; None when it did not."""
    text = (result.stderr_tail or "").lower()
    kind = observed.exception_type
    if kind in ("ModuleNotFoundError", "ImportError"):
        if m := _NO_MODULE.search(observed.message):
            module = m["name"].split(".")[0]
            package = PACKAGE_OF_MODULE.get(module, module)
            return SetupFailure(
                "missing_module",
                f"the script stopped at an import: {observed.describe()}",
                f"add `{package}` to the requirements (with the version the report used)",
            )
        if m := _CANNOT_IMPORT.search(observed.message):
            top = m["module"].split(".")[0]
            return SetupFailure(
                "missing_module",
                f"the script stopped at an import: {observed.describe()}",
                f"the installed `{top}` has no `{m['name']}`: pin the version of `{top}` the report used",
            )
        return SetupFailure(
            "missing_module",
            f"the script stopped at an import: {observed.describe()}",
            "check the requirements: a package the script imports is missing or could not load",
        )
    if kind in ("SyntaxError", "IndentationError", "TabError"):
        where = _SCRIPT_LINE.search(result.stderr_tail or "")
        if where:
            return SetupFailure(
                "script_syntax",
                f"the script is not valid Python (line {where['line']}): {observed.describe()}",
                f"fix line {where['line']} of the script (pasted output or >>> prompts left in it?)",
            )
    if any(marker in text for marker in NO_GPU_MARKERS):
        return SetupFailure(
            "no_gpu",
            f"the script needs a CUDA device that this run did not have: {observed.describe()}",
            "run it with device gpu on a GPU runner, or remove the .cuda() / device='cuda' calls to try it on CPU",
        )
    if kind in NETWORK_TYPES or any(marker in text for marker in NETWORK_MARKERS):
        return SetupFailure(
            "download_blocked",
            f"the script tried to download something and the sandbox has no network: {observed.describe()}",
            "make the script self-contained: random inputs instead of a dataset, no pretrained weights",
        )
    return None


def _judge_hang(result, observed: Observed) -> Judgement:
    if result.limit_hit in ("wall_time", "cpu_time"):
        return Judgement(
            "reproduced",
            f"the run hung: it ran past {_limit_words(result.limit_hit)} and was killed",
            reason="matched",
            compared=True,
            matched=True,
            expectation={"source": "hang oracle", "limit": "time"},
        )
    if result.limit_hit:
        return Judgement(
            "limit_exceeded", f"the run hit {_limit_words(result.limit_hit)} before it could hang", reason="limit"
        )
    if _failed(result) and (setup := setup_failure(result, observed)):
        return _inconclusive(setup, observed)
    return Judgement(
        "not_reproduced", f"the run finished within its time limit ({_how_it_ended(result)})", reason="no_failure"
    )


def _inconclusive(setup: SetupFailure, observed: Observed, expectation: Expectation | None = None) -> Judgement:
    return Judgement(
        "inconclusive",
        f"{setup.detail}: the bug could not show. Hint: {setup.hint}.",
        reason=setup.reason,
        hint=setup.hint,
        expectation=expectation.as_dict() if expectation else {},
        observed=observed.describe(),
    )


def _setup_overrides(setup: SetupFailure | None, expectation: Expectation, observed: Observed, matched: bool) -> bool:
    """A set-up failure decides unless the expectation names that very failure (its type, with a message
    pattern that matched, or a set-up exception type itself): "RuntimeError" alone must not turn a
    missing CUDA device into a reproduction."""
    if setup is None:
        return False
    if matched and expectation.exception_type and expectation.exception_type == observed.exception_type:
        return not (expectation.message_pattern or expectation.exception_type in SETUP_TYPES)
    return True


def _judge_against(result, expectation: Expectation, framework: str, *, oracle: str) -> Judgement:
    """Crash and assertion runs: set-up failures first, then the run's failure against the expectation."""
    how = _how_it_ended(result)
    if not _failed(result):
        words = "no crash" if oracle == "crash" else "the script's checks passed: the bug does not show"
        return Judgement(
            "not_reproduced",
            f"the script ran to the end with exit code 0: {words}",
            reason="no_failure",
            expectation=expectation.as_dict(),
            compared=not expectation.empty,
        )
    observed = observed_failure(result.stderr_tail, exit_code=result.exit_code, signal=result.signal)
    signed = sign(
        framework=framework, oracle="crash", message=_last_line(result.stderr_tail), stack_trace=result.stderr_tail
    )
    matched, why = (False, "") if expectation.empty else compare(expectation, observed, run_signature=signed.signature)
    setup = setup_failure(result, observed)
    if _setup_overrides(setup, expectation, observed, matched):
        judgement = _inconclusive(setup, observed, expectation)
        judgement.signature = signed.signature
        judgement.compared = not expectation.empty
        return judgement
    common = dict(signature=signed.signature, expectation=expectation.as_dict(), observed=observed.describe())
    if expectation.empty:
        return Judgement(
            "reproduced",
            f"the run crashed ({how}: {observed.describe()}); nothing was compared: no expected failure was given, "
            "so this verdict is not evidence of the reported bug",
            reason="no_expectation",
            hint="give the expected failure (e.g. IndexError: index out of range) and judge the run again",
            compared=False,
            **common,
        )
    if matched:
        return Judgement(
            "reproduced",
            f"the run failed as expected ({expectation.describe()}; {how}: {observed.describe()})",
            reason="matched",
            compared=True,
            matched=True,
            **common,
        )
    if oracle == "assertion" and not observed.exception_type and not result.signal and expectation.exit_code is None:
        return Judgement(
            "inconclusive",
            f"the script exited with {how} and no traceback, and no exit code was declared for its check",
            reason="undeclared_exit",
            hint=f"declare the exit code the script's check uses (exit {result.exit_code}) or raise AssertionError",
            compared=True,
            **common,
        )
    words = "the script crashed before its check" if oracle == "assertion" else "the run failed, but not as expected"
    return Judgement(
        "crashed_differently",
        f"{words}: expected {expectation.describe()}, got {observed.describe()} ({how}); {why}",
        reason="different_failure",
        hint="if this failure is the reported bug, correct the expectation and judge the run again",
        compared=True,
        **common,
    )


def judge(
    *,
    oracle: str,
    result,
    expectation: Expectation | None = None,
    expected_signature: str = "",
    framework: str = "",
) -> Judgement:
    """The verdict of one run under a single-run oracle (differential needs both sides: see
    judge_differential). ``expected_signature`` is shorthand for ``Expectation(signature=...)``."""
    if oracle not in ORACLES:
        raise ValueError(f"unknown oracle {oracle!r}; use one of: {', '.join(ORACLES)}")
    expectation = expectation or Expectation()
    if expected_signature and not expectation.signature:
        expectation = Expectation(**{**expectation.as_dict(), "signature": expected_signature})
    if oracle == "hang":
        observed = observed_failure(result.stderr_tail, exit_code=result.exit_code, signal=result.signal)
        return _judge_hang(result, observed)
    if result.limit_hit:
        return Judgement(
            "limit_exceeded",
            f"the run was stopped: it hit {_limit_words(result.limit_hit)}",
            reason="limit",
            hint="raise the limit if the script needs more, or make the script smaller",
            expectation=expectation.as_dict(),
        )
    if oracle == "crash":
        return _judge_against(result, expectation, framework, oracle="crash")
    if oracle == "assertion":
        if not (expectation.exception_type or expectation.exit_code or expectation.signal):
            expectation = Expectation(**{**ASSERTION.as_dict(), "signature": expectation.signature})
        return _judge_against(result, expectation, framework, oracle="assertion")
    return Judgement("inconclusive", "a differential run needs both sides; judge it with judge_differential")


# --------------------------------------------------------------------------- captures


def _load_npy(path: Path) -> np.ndarray:
    """np.load without pickles, after checking the header: a small file must not claim a huge array
    (numpy would allocate the claimed size before noticing the data is short)."""
    fmt = np.lib.format
    with open(path, "rb") as fh:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}; save with numpy.save")
        if dtype.hasobject:
            raise ValueError("object arrays are not accepted; save numbers or strings")
        claimed = math.prod(shape) * dtype.itemsize
        available = path.stat().st_size - fh.tell()
        if claimed > available:
            raise ValueError(f"header claims {claimed:,} bytes of data but the file holds {available:,}")
        fh.seek(0)
        return np.load(fh, allow_pickle=False)


def _load_json(path: Path) -> np.ndarray:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, (list, int, float, bool)) or isinstance(data, dict):
        raise ValueError("JSON captures must be a number or a (nested) list of numbers")
    array = np.asarray(data)
    if array.dtype == object:
        raise ValueError("JSON capture is ragged or mixes types; save a rectangular list of numbers")
    return array


def load_captures(directory: Path | None, *, max_bytes: int = 50 * 2**20) -> tuple[dict[str, np.ndarray], list[str]]:
    """Arrays saved by a script (``*.npy``, ``*.json``), and messages about files that were skipped.

    max_bytes caps the total read: the files come from a hostile script. Symlinks are not followed
    (a script could point one at a host file it cannot read itself)."""
    arrays: dict[str, np.ndarray] = {}
    messages: list[str] = []
    if directory is None or not Path(directory).is_dir():
        return arrays, messages
    budget = max_bytes
    files = sorted(p for p in Path(directory).iterdir() if p.suffix in (".npy", ".json"))
    for count, path in enumerate(files):
        if count >= MAX_CAPTURE_FILES:
            messages.append(f"only the first {MAX_CAPTURE_FILES} captures were read; {len(files) - count} skipped")
            break
        if path.is_symlink() or not path.is_file():
            messages.append(f"{path.name}: not a regular file, skipped")
            continue
        size = path.stat().st_size
        if size > budget:
            messages.append(f"{path.name}: {size:,} bytes is over the {max_bytes:,}-byte capture limit, skipped")
            continue
        name = path.stem
        if name in arrays:
            messages.append(f"{path.name}: a capture named {name!r} was already read, skipped")
            continue
        try:
            arrays[name] = _load_npy(path) if path.suffix == ".npy" else _load_json(path)
        except Exception as exc:  # anything a hostile file can provoke becomes a message
            messages.append(f"{path.name}: could not be read ({type(exc).__name__}: {str(exc)[:200]}), skipped")
            continue
        budget -= size
    return arrays, messages


def pack_captures(arrays: dict[str, np.ndarray]) -> bytes:
    """All arrays in one compressed .npz blob for the database; b"" when there are none."""
    if not arrays:
        return b""
    buffer = io.BytesIO()
    # Written entry by entry (as savez does) so any capture name works, even "file".
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asarray(value), allow_pickle=False)
    return buffer.getvalue()


def unpack_captures(blob: bytes | None) -> dict[str, np.ndarray]:
    """The arrays of a pack_captures blob ({} for empty or unreadable)."""
    if not blob:
        return {}
    try:
        with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError):
        return {}


def _json_number(value) -> float | str | None:
    """A float safe for JSON: NaN and infinities become strings."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _nan_count(array: np.ndarray) -> int:
    if array.dtype.kind in "fc":
        return int(np.count_nonzero(np.isnan(array)))
    return 0


def _preview(array: np.ndarray) -> str:
    with np.printoptions(threshold=20, edgeitems=3, precision=6, linewidth=100):
        text = np.array2string(array) if array.ndim else repr(array.item())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 3] + "..."


def summarise_captures(arrays: dict[str, np.ndarray]) -> dict:
    """What the report page shows of each capture: shape, dtype, a short preview, NaN count."""
    return {
        name: {
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "preview": _preview(array),
            "nan": _nan_count(array),
        }
        for name, array in sorted(arrays.items())
    }


def _item(name: str, status: str, detail: str, **numbers) -> dict:
    return {
        "name": name,
        "status": status,
        "max_abs_diff": _json_number(numbers.get("max_abs_diff")),
        "mismatched": numbers.get("mismatched"),
        "total": numbers.get("total"),
        "detail": detail,
    }


def _compare_numeric(name: str, x: np.ndarray, y: np.ndarray, rtol: float, atol: float) -> dict:
    """Elementwise with tolerance; NaN equals NaN at the same place, inf equals the same inf."""
    close = np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
    total = int(close.size)
    mismatched = int(total - np.count_nonzero(close))
    both_finite = np.isfinite(x) & np.isfinite(y)
    wide = np.complex128 if x.dtype.kind == "c" else np.float64
    diffs = np.abs(x[both_finite].astype(wide) - y[both_finite].astype(wide))
    max_diff = float(diffs.max()) if diffs.size else 0.0
    if mismatched and mismatched > int(np.count_nonzero(~close & both_finite)):
        max_diff = float("inf")  # NaN or inf on one side only: no finite difference says it
    if not mismatched:
        return _item(
            name,
            "equal",
            f"all {total} values equal within rtol={rtol}, atol={atol}",
            max_abs_diff=max_diff,
            mismatched=0,
            total=total,
        )
    return _item(
        name,
        "differs",
        f"{mismatched} of {total} values differ beyond rtol={rtol}, atol={atol} "
        f"(max abs diff {_json_number(max_diff)})",
        max_abs_diff=max_diff,
        mismatched=mismatched,
        total=total,
    )


def _compare_one(name: str, x: np.ndarray, y: np.ndarray, rtol: float, atol: float) -> dict:
    if x.shape != y.shape:
        return _item(name, "shape", f"shapes differ: {list(x.shape)} against {list(y.shape)}")
    if x.dtype != y.dtype:
        return _item(name, "dtype", f"dtypes differ: {x.dtype} against {y.dtype}")
    if x.dtype.kind in "iufc":
        return _compare_numeric(name, x, y, rtol, atol)
    equal = bool(np.array_equal(x, y))
    total = int(x.size)
    mismatched = 0 if equal else int(total - np.count_nonzero(x == y)) if x.shape else 1
    return _item(
        name,
        "equal" if equal else "differs",
        f"non-numeric values ({x.dtype}) {'are identical' if equal else 'differ'}",
        mismatched=mismatched,
        total=total,
    )


def compare_captures(a: dict, b: dict, *, rtol: float, atol: float) -> dict:
    """Compare the two sides' captures name by name; equal only if every name is on both sides and
    equal within tolerance. JSON-safe (no NaN floats)."""
    if rtol < 0 or atol < 0:
        raise ValueError(f"rtol and atol must be zero or more (got rtol={rtol}, atol={atol})")
    items = []
    for name in sorted(set(a) | set(b)):
        if name not in a:
            items.append(_item(name, "missing_a", "saved only by side B"))
        elif name not in b:
            items.append(_item(name, "missing_b", "saved only by side A"))
        else:
            items.append(_compare_one(name, np.asarray(a[name]), np.asarray(b[name]), rtol, atol))
    return {"equal": bool(items) and all(i["status"] == "equal" for i in items), "items": items}


def _side_problem(label: str, result) -> str:
    if result.limit_hit:
        return f"side {label} was stopped by {_limit_words(result.limit_hit)}"
    if _failed(result):
        return f"side {label} failed ({_how_it_ended(result)}): {_last_line(result.stderr_tail)[:200]}"
    return ""


def judge_differential(*, a, b, comparison: dict) -> Judgement:
    """Reproduced when both sides ran and their captures differ."""
    problems = [p for p in (_side_problem("A", a), _side_problem("B", b)) if p]
    if problems:
        return Judgement("inconclusive", "; ".join(problems) + ": nothing to compare")
    items = comparison.get("items") or []
    if not items:
        return Judgement("inconclusive", "the script saved nothing with bugsift_capture.save on either side")
    if comparison.get("equal"):
        return Judgement("not_reproduced", f"both sides agree on {len(items)} capture(s): {_names(items)}")
    differing = [i for i in items if i["status"] != "equal"]
    parts = [f"{i['name']} ({i['status'].replace('_', ' ')})" for i in differing]
    return Judgement("reproduced", f"the sides differ: {', '.join(parts)}")


def _names(items: list[dict]) -> str:
    names = [i["name"] for i in items]
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
