"""Save a script's results for Bugsift's differential comparison: ``from bugsift_capture import save``.

Inside Bugsift this folder is on PYTHONPATH and BUGSIFT_CAPTURE_DIR names where results go; run by hand,
results go to ./bugsift_captures so the same script works outside Bugsift. With numpy importable, tensors
(torch, TensorFlow), arrays, scalars and nested lists are saved as ``<name>.npy`` (no pickle: a capture is
data, never code); without numpy, JSON-serialisable numbers and lists go to ``<name>.json``. Saving a
name twice replaces the earlier result. Only the standard library and, when present, numpy are used.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

NAME_RULE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
DEFAULT_DIR = "bugsift_captures"

__all__ = ["save", "capture_dir"]


def capture_dir() -> Path:
    """Where results go: $BUGSIFT_CAPTURE_DIR under Bugsift, ./bugsift_captures otherwise (created)."""
    path = Path(os.environ.get("BUGSIFT_CAPTURE_DIR") or DEFAULT_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RULE.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            f"Capture name {name!r} is not allowed: use 1 to 100 letters, digits, '_', '.' or '-' "
            "(e.g. save('logits', x)); the name becomes a file name."
        )
    return name


def _to_numpy(value: Any, np: Any) -> Any:
    """torch tensors (.detach().cpu().numpy()), TF tensors (.numpy()), arrays, scalars and lists as arrays."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, also on a GPU or requiring grad
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":  # numpy has no bfloat16
            value = value.float()
        value = value.numpy()
    elif hasattr(value, "numpy") and callable(value.numpy) and not isinstance(value, np.ndarray):  # tf.Tensor
        value = value.numpy()
    try:
        array = np.asarray(value)
    except ValueError:  # numpy >= 1.24 refuses ragged lists outright
        array = np.empty(0, dtype=object)
    if array.dtype == object:
        raise TypeError(
            f"save() needs numbers, not {type(value).__name__} holding Python objects: pass a tensor, an array, "
            "a number or a (nested) list of numbers of one shape."
        )
    return array


def _save_json(path_stem: Path, value: Any) -> Path:
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Without numpy, save() stores numbers and (nested) lists of numbers as JSON; {type(value).__name__} "
            f"is not one ({exc}). Install numpy in the reproducer's requirements to save arrays and tensors."
        ) from exc
    target = path_stem.with_name(path_stem.name + ".json")
    _write_atomically(target, text.encode())
    return target


def _write_atomically(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _remove_other(stem: Path, keep: Path) -> None:
    """A name saved twice keeps only the last result, even when its format changed (.npy <-> .json)."""
    for suffix in (".npy", ".json"):
        other = stem.with_name(stem.name + suffix)
        if other != keep and other.exists():
            other.unlink()


def save(name: str, value: Any) -> Path:
    """Save `value` under `name` for comparison with the other side of a differential run; returns the file."""
    name = _check_name(name)
    stem = capture_dir() / name
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is None:
        target = _save_json(stem, value)
    else:
        import io

        buffer = io.BytesIO()
        np.save(buffer, _to_numpy(value, np), allow_pickle=False)
        target = stem.with_name(name + ".npy")
        _write_atomically(target, buffer.getvalue())
    _remove_other(stem, target)
    return target
