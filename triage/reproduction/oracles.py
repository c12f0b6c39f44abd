"""Oracles: decide from a sandboxed run whether the bug showed.

    judge(oracle=, result=, expected_signature=, framework=) -> Judgement     crash | assertion | hang
    load_captures(dir) / pack_captures / unpack_captures / summarise_captures
    compare_captures(a, b, rtol=, atol=) -> dict
    judge_differential(a=, b=, comparison=) -> Judgement

A differential run has two sides (CPU against GPU, version A against version B); each side's
script saves arrays with ``bugsift_capture.save``; the worker loads both, compares them here and
judges. Captures come from hostile scripts: they are read with ``allow_pickle=False`` and JSON
only, size-capped, and a bad file becomes a message, never an exception or code execution.

No Django here (only the signature function), so the management command and tests can use it
without a database.
"""

from __future__ import annotations

import io
import json
import math
import signal as signals
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triage.crashes.signatures import sign

VERDICTS = ("reproduced", "not_reproduced", "inconclusive", "limit_exceeded", "build_failed", "refused", "lost")
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


def _judge_hang(result) -> Judgement:
    if result.limit_hit in ("wall_time", "cpu_time"):
        return Judgement("reproduced", f"the run hung: it ran past {_limit_words(result.limit_hit)} and was killed")
    if result.limit_hit:
        return Judgement("limit_exceeded", f"the run hit {_limit_words(result.limit_hit)} before it could hang")
    return Judgement("not_reproduced", f"the run finished within its time limit ({_how_it_ended(result)})")


def _judge_crash(result, expected_signature: str, framework: str) -> Judgement:
    if not _failed(result):
        return Judgement("not_reproduced", "the script ran to the end with exit code 0: no crash")
    signed = sign(
        framework=framework, oracle="crash", message=_last_line(result.stderr_tail), stack_trace=result.stderr_tail
    )
    how = _how_it_ended(result)
    if not expected_signature:
        return Judgement("reproduced", f"the run crashed ({how})", signed.signature)
    if signed.signature == expected_signature:
        return Judgement("reproduced", f"the run crashed ({how}) with the report's signature", signed.signature)
    return Judgement(
        "not_reproduced",
        f"the run crashed ({how}) but failed differently: its signature {signed.signature[:12]} is not the "
        f"report's {expected_signature[:12]}",
        signed.signature,
    )


def _judge_assertion(result) -> Judgement:
    if _failed(result):
        return Judgement("reproduced", f"the script's check failed ({_how_it_ended(result)}): the bug shows")
    return Judgement("not_reproduced", "the script's checks passed (exit code 0): the bug does not show")


def judge(*, oracle: str, result, expected_signature: str = "", framework: str = "") -> Judgement:
    """The verdict of one run under a single-run oracle (differential needs both sides: see
    judge_differential)."""
    if oracle not in ORACLES:
        raise ValueError(f"unknown oracle {oracle!r}; use one of: {', '.join(ORACLES)}")
    if oracle == "hang":
        return _judge_hang(result)
    if result.limit_hit:
        return Judgement("limit_exceeded", f"the run was stopped: it hit {_limit_words(result.limit_hit)}")
    if oracle == "crash":
        return _judge_crash(result, expected_signature, framework)
    if oracle == "assertion":
        return _judge_assertion(result)
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
