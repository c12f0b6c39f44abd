"""One fuzzer crash report checked and normalised; every field problem listed as ``{field, message}``.

A plain function, tested without the ORM:

    crash_parse(data) -> (CrashInput | None, problems)

Fields: client_id (required), fuzzer (required), framework (required, stored lower case),
framework_version, api, device, oracle (required: crash, exception, nan_inf, cpu_gpu_mismatch,
version_mismatch, timeout, memory), message, stack_trace, reproducer, created_at (ISO 8601;
naive times are UTC), extra (an object). A crash or exception needs a message or a stack
trace. Unknown fields are refused (free metadata goes in ``extra``), so typos do not vanish.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from config import jsontext
from config.text import json_kind

ORACLES = ("crash", "exception", "nan_inf", "cpu_gpu_mismatch", "version_mismatch", "timeout", "memory")
MAX_REPORT_BYTES = 5 * 1024 * 1024
MAX_BATCH = 1000
MAX_LENGTHS = {
    "client_id": 200,
    "fuzzer": 100,
    "framework": 32,
    "framework_version": 64,
    "api": 300,
    "device": 32,
    "oracle": 32,
}
REQUIRED = ("client_id", "fuzzer", "framework", "oracle")
TEXT_FIELDS = ("message", "stack_trace", "reproducer")
FIELDS = (*MAX_LENGTHS, *TEXT_FIELDS, "created_at", "extra")
EXAMPLE = (
    '{"client_id": "run42-000123", "fuzzer": "freefuzz", "framework": "pytorch", "framework_version": "2.1.0", '
    '"api": "torch.nn.functional.conv2d", "device": "cpu", "oracle": "exception", "message": "...", '
    '"stack_trace": "Traceback (most recent call last): ...", "reproducer": "import torch ...", '
    '"created_at": "2024-03-01T10:00:00Z", "extra": {"seed": 7}}'
)


@dataclass(slots=True)
class CrashInput:
    client_id: str
    fuzzer: str
    framework: str
    oracle: str
    framework_version: str = ""
    api: str = ""
    device: str = ""
    message: str = ""
    stack_trace: str = ""
    reproducer: str = ""
    created_at: datetime | None = None
    extra: dict = field(default_factory=dict)


def _clean_json(value):
    """``value`` (decoded JSON) with every string and key made storable by ``_clean_text``."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        return {_clean_text(key): _clean_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean_json(item) for item in value]
    return value


def _clean_text(value: str) -> str:
    """Text PostgreSQL can store: no NUL, no lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def parse_datetime(value: str) -> datetime | None:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def crash_parse(data) -> tuple[CrashInput | None, list[dict]]:
    """The normalised report, or None and every problem found in it."""
    if not isinstance(data, dict):
        return None, [{"field": "", "message": f"Each crash report must be a JSON object, e.g. {EXAMPLE}"}]
    problems: list[dict] = []

    def problem(name: str, message: str):
        problems.append({"field": name, "message": message})

    for name in sorted(set(data) - set(FIELDS)):
        problem(name, f"Unknown field. Known fields: {', '.join(FIELDS)}; put other metadata in 'extra'.")
    values: dict = {}
    for name, limit in MAX_LENGTHS.items():
        value = data.get(name)
        if value is None or value == "":
            if name in REQUIRED:
                problem(name, "This field is required.")
            values[name] = ""
            continue
        if not isinstance(value, str):
            problem(name, f'Must be text (a JSON string in quotes, e.g. "{name}": "..."), not {json_kind(value)}.')
            continue
        value = _clean_text(value.strip())
        if len(value) > limit:
            problem(name, f"At most {limit} characters (got {len(value)}).")
        values[name] = value
    for name in TEXT_FIELDS:
        value = data.get(name)
        if value is None:
            values[name] = ""
        elif not isinstance(value, str):
            problem(name, f'Must be text (a JSON string in quotes, e.g. "{name}": "..."), not {json_kind(value)}.')
        else:
            values[name] = _clean_text(value)
    if values.get("framework"):
        values["framework"] = values["framework"].lower()
    oracle = values.get("oracle")
    if oracle and oracle not in ORACLES:
        problem("oracle", f"Unknown oracle {oracle!r}; use one of {', '.join(ORACLES)}.")
    if oracle in ("crash", "exception") and not (
        values.get("message", "").strip() or values.get("stack_trace", "").strip()
    ):
        problem("stack_trace", "A crash or exception needs a message or a stack trace (send the text as printed).")
    created = data.get("created_at")
    values["created_at"] = None
    if created not in (None, ""):
        parsed = parse_datetime(created) if isinstance(created, str) else None
        if parsed is None:
            problem("created_at", "Must be an ISO 8601 date and time, e.g. 2024-03-01T10:00:00Z.")
        values["created_at"] = parsed
    extra = data.get("extra")
    if extra is None:
        values["extra"] = {}
    elif not isinstance(extra, dict):
        problem("extra", 'Must be a JSON object, e.g. {"seed": 7}.')
    elif found := jsontext.nul_paths(extra, "extra"):
        problem("extra", f"Holds a NUL character (\\u0000) at {', '.join(found)}, which cannot be stored; remove it.")
    else:
        try:
            values["extra"] = _clean_json(json.loads(json.dumps(extra, ensure_ascii=False)))
        except ValueError:
            problem("extra", "Must be plain JSON (strings, numbers, lists, objects).")
        except RecursionError:
            problem("extra", "Nested too deeply; keep 'extra' to a few levels of objects and lists.")
    if problems:
        return None, problems
    return CrashInput(**values), []


def crash_records(path) -> Iterator[tuple[str, object]]:
    """(where, decoded JSON) for every report in a JSON Lines file or a folder of .json files.

    A .json file may hold one report or a list. Lines or files that are not JSON give
    ``(where, ApplicationError)`` so the caller can list them with the other problems."""
    from pathlib import Path

    from config.errors import ApplicationError

    root = Path(path)
    if not root.exists():
        raise ApplicationError(f"{root} does not exist; give a .jsonl file or a folder of .json files.")
    if root.is_dir():
        files = sorted(p for p in root.rglob("*.json") if p.is_file())
        if not files:
            raise ApplicationError(f"{root} holds no .json files.")
        for file in files:
            try:
                data = jsontext.loads(file.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                yield str(file.name), ApplicationError(f"Not valid UTF-8 JSON: {exc}")
                continue
            for i, item in enumerate(data if isinstance(data, list) else [data]):
                yield (f"{file.name}[{i}]" if isinstance(data, list) else file.name), item
        return
    with root.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", jsontext.loads(line)
            except ValueError as exc:
                yield f"line {number}", ApplicationError(f"Not valid JSON: {exc}")
