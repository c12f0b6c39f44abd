"""The survey definition document: its schema, checked with messages that say where and what to fix.

```
{"title": "...", "intro": "markdown", "consent": "markdown",
 "sections": [{"title": "...", "description": "markdown", "questions": [
   {"code": "familiar", "kind": "single", "text": "...", "options": ["Yes", "No"], "required": true},
   {"code": "tools", "kind": "multi", "text": "...", "options": ["a", "b"]},
   {"code": "scale", "kind": "likert", "text": "...", "min": 1, "max": 5, "min_label": "...", "max_label": "..."},
   {"code": "wrong_shape", "kind": "matrix", "text": "...", "min": 1, "max": 5,
    "rows": [{"code": "clear", "text": "..."}], "category": "effect/wrong_shape"},
   {"code": "years", "kind": "number", "text": "...", "min": 0},
   {"code": "comments", "kind": "text", "text": "...", "long": true, "required": false}]}]}
```

Every question may also carry ``"required"`` (default false), ``"category"`` (the codebook
category it asks about, ``"dimension/category"``) and ``"condition"``: ``{"question": CODE,
"equals": VALUE}`` shows it only when an earlier single, multi (VALUE among the picks), Likert or
number question was answered VALUE. Unknown keys are refused (a typo would silently do nothing).

``definition_validate`` returns a normalised copy (defaults filled in) or raises
``ApplicationError`` whose ``details`` list every problem as ``{"where", "message"}``.
"""

from __future__ import annotations

import math
import re

from config.errors import ApplicationError
from config.text import json_kind

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*/[a-z0-9][a-z0-9_\-]*$")
KINDS = ("single", "multi", "likert", "matrix", "number", "text")
MAX_SECTIONS = 200
MAX_QUESTIONS = 1000
MAX_OPTIONS = 100
MAX_SCALE_POINTS = 11
MAX_TEXT = 20_000

TOP_KEYS = {"title", "intro", "consent", "sections"}
SECTION_KEYS = {"title", "description", "questions"}
COMMON_KEYS = {"code", "kind", "text", "required", "category", "condition"}
KIND_KEYS = {
    "single": {"options"},
    "multi": {"options"},
    "likert": {"min", "max", "min_label", "max_label"},
    "matrix": {"min", "max", "min_label", "max_label", "rows"},
    "number": {"min", "max"},
    "text": {"long"},
}
DEFAULT_CONSENT = (
    "Your answers are stored anonymously: no account, IP address or browser details are kept with them, "
    "and dates are rounded to the day. You may stop at any time."
)


class _Problems:
    def __init__(self):
        self.items: list[dict] = []

    def add(self, where: str, message: str) -> None:
        self.items.append({"where": where, "message": message})


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return _is_number(value) and float(value).is_integer()


def _text(value, where, key, problems, *, required=False, max_len=MAX_TEXT) -> str:
    if value is None or value == "":
        if required:
            problems.add(where, f"'{key}' is missing: give it as text.")
        return ""
    if not isinstance(value, str):
        problems.add(where, f"'{key}' must be text, not {json_kind(value)}.")
        return ""
    if required and not value.strip():
        problems.add(where, f"'{key}' is empty: write it.")
    if len(value) > max_len:
        problems.add(where, f"'{key}' is {len(value)} characters long; keep it under {max_len}.")
    return value


def _unknown(obj: dict, allowed: set, where: str, problems: _Problems) -> None:
    for key in sorted(set(obj) - allowed):
        problems.add(where, f"'{key}' is not a key here; use only {', '.join(sorted(allowed))}.")


def _scale(q: dict, out: dict, where: str, problems: _Problems) -> None:
    low, high = q.get("min", 1), q.get("max", 5)
    if not _is_int(low) or not _is_int(high):
        problems.add(where, "'min' and 'max' of a scale must be whole numbers (e.g. 1 and 5).")
        return
    low, high = int(low), int(high)
    if low >= high:
        problems.add(where, f"'min' ({low}) must be below 'max' ({high}).")
    elif high - low + 1 > MAX_SCALE_POINTS:
        problems.add(where, f"A scale has at most {MAX_SCALE_POINTS} points; {low} to {high} has {high - low + 1}.")
    out["min"], out["max"] = low, high
    out["min_label"] = _text(q.get("min_label"), where, "min_label", problems, max_len=200)
    out["max_label"] = _text(q.get("max_label"), where, "max_label", problems, max_len=200)


def _options(q: dict, out: dict, where: str, problems: _Problems) -> None:
    options = q.get("options")
    if not isinstance(options, list) or not options:
        problems.add(where, '\'options\' must be a list of at least one option, e.g. ["Yes", "No"].')
        out["options"] = []
        return
    seen = set()
    for i, option in enumerate(options, 1):
        if not isinstance(option, str) or not option.strip():
            problems.add(where, f"Option {i} must be non-empty text, not {json_kind(option)}.")
        elif option in seen:
            problems.add(where, f"Option '{option}' is listed twice; options must differ.")
        elif len(option) > 500:
            problems.add(where, f"Option {i} is longer than 500 characters.")
        seen.add(option if isinstance(option, str) else None)
    if len(options) > MAX_OPTIONS:
        problems.add(where, f"A question has at most {MAX_OPTIONS} options, not {len(options)}.")
    out["options"] = list(options)


def _rows(q: dict, out: dict, where: str, problems: _Problems) -> None:
    rows = q.get("rows")
    out["rows"] = []
    if not isinstance(rows, list) or not rows:
        problems.add(where, '\'rows\' must be a list of statements, e.g. [{"code": "clear", "text": "..."}].')
        return
    seen = set()
    for i, row in enumerate(rows, 1):
        row_where = f"{where}, row {i}"
        if not isinstance(row, dict):
            problems.add(row_where, f"A row must be an object with 'code' and 'text', not {json_kind(row)}.")
            continue
        _unknown(row, {"code", "text"}, row_where, problems)
        code = row.get("code")
        if not isinstance(code, str) or not CODE_RE.match(code):
            problems.add(row_where, "'code' must use lower-case letters, digits, '_' and '-' (e.g. 'clear').")
        elif code in seen:
            problems.add(row_where, f"Row code '{code}' is used twice in this matrix; make it unique.")
        seen.add(code)
        text = _text(row.get("text"), row_where, "text", problems, required=True, max_len=2000)
        out["rows"].append({"code": code, "text": text})


def _number_bounds(q: dict, out: dict, where: str, problems: _Problems) -> None:
    for key in ("min", "max"):
        value = q.get(key)
        if value is not None and not _is_number(value):
            problems.add(where, f"'{key}' must be a number, not {json_kind(value)}.")
            value = None
        out[key] = value
    if out["min"] is not None and out["max"] is not None and out["min"] > out["max"]:
        problems.add(where, f"'min' ({out['min']}) must not be above 'max' ({out['max']}).")


def _condition(q: dict, where: str, earlier: dict, problems: _Problems):
    condition = q.get("condition")
    if condition is None:
        return None
    if not isinstance(condition, dict) or set(condition) != {"question", "equals"}:
        problems.add(where, '\'condition\' must be {"question": CODE, "equals": VALUE}.')
        return None
    target, value = condition["question"], condition["equals"]
    source = earlier.get(target)
    if source is None:
        problems.add(
            where,
            f"The condition names '{target}', which is not an earlier question: a condition can only "
            "look at a question that comes before it.",
        )
        return None
    kind = source["kind"]
    if kind in ("single", "multi"):
        if value not in source["options"]:
            problems.add(where, f"The condition's value {value!r} is not an option of '{target}'.")
    elif kind in ("likert", "number"):
        if not _is_number(value):
            problems.add(where, f"The condition's value must be a number ('{target}' is a {kind} question).")
    else:
        problems.add(
            where, f"A condition can look at a single, multi, Likert or number question; '{target}' is {kind}."
        )
    return {"question": target, "equals": value}


def _question(q, where: str, codes: set, earlier: dict, problems: _Problems) -> dict | None:
    if not isinstance(q, dict):
        problems.add(where, f"A question must be an object, not {json_kind(q)}.")
        return None
    code, kind = q.get("code"), q.get("kind")
    if isinstance(code, str) and code:
        where = f"{where} ('{code}')"
    if not isinstance(code, str) or not CODE_RE.match(code) or len(code) > 64:
        problems.add(where, "'code' must be up to 64 lower-case letters, digits, '_' and '-' (e.g. 'years').")
    elif code in codes:
        problems.add(where, f"The code '{code}' is used by an earlier question; every question needs its own code.")
    codes.add(code)
    if kind not in KINDS:
        problems.add(where, f"'kind' must be one of {', '.join(KINDS)}, not {kind!r}.")
        return None
    _unknown(q, COMMON_KEYS | KIND_KEYS[kind], where, problems)
    out = {"code": code, "kind": kind, "text": _text(q.get("text"), where, "text", problems, required=True)}
    required = q.get("required", False)
    if not isinstance(required, bool):
        problems.add(where, f"'required' must be true or false, not {json_kind(required)}.")
        required = False
    out["required"] = required
    if kind in ("single", "multi"):
        _options(q, out, where, problems)
    elif kind in ("likert", "matrix"):
        _scale(q, out, where, problems)
        if kind == "matrix":
            _rows(q, out, where, problems)
    elif kind == "number":
        _number_bounds(q, out, where, problems)
    else:
        long = q.get("long", False)
        if not isinstance(long, bool):
            problems.add(where, f"'long' must be true or false, not {json_kind(long)}.")
            long = False
        out["long"] = long
    category = q.get("category")
    if category not in (None, ""):
        if not isinstance(category, str) or not CATEGORY_RE.match(category):
            problems.add(where, "'category' must be 'dimension/category' codes, e.g. 'effect/wrong_shape'.")
        else:
            out["category"] = category
    condition = _condition(q, where, earlier, problems)
    if condition is not None:
        out["condition"] = condition
    return out


def definition_validate(document) -> dict:
    """A normalised copy of ``document``, or ApplicationError listing every problem."""
    problems = _Problems()
    if not isinstance(document, dict):
        raise ApplicationError(
            "A survey definition must be a JSON object with 'title' and 'sections'.",
            details=[{"where": "definition", "message": f"Got {json_kind(document)}."}],
        )
    _unknown(document, TOP_KEYS, "survey", problems)
    out = {
        "title": _text(document.get("title"), "survey", "title", problems, required=True, max_len=200),
        "intro": _text(document.get("intro"), "survey", "intro", problems),
        "consent": _text(document.get("consent"), "survey", "consent", problems) or DEFAULT_CONSENT,
        "sections": [],
    }
    sections = document.get("sections")
    if not isinstance(sections, list) or not sections:
        problems.add("survey", "'sections' must be a list of at least one section with questions.")
        sections = []
    if len(sections) > MAX_SECTIONS:
        problems.add("survey", f"A survey has at most {MAX_SECTIONS} sections, not {len(sections)}.")
    codes: set = set()
    earlier: dict = {}
    count = 0
    for s_index, section in enumerate(sections, 1):
        where = f"Section {s_index}"
        if not isinstance(section, dict):
            problems.add(where, f"A section must be an object with 'title' and 'questions', not {json_kind(section)}.")
            continue
        if isinstance(section.get("title"), str) and section["title"].strip():
            where = f"Section {s_index} ('{section['title'][:60]}')"
        _unknown(section, SECTION_KEYS, where, problems)
        s_out = {
            "title": _text(section.get("title"), where, "title", problems, required=True, max_len=200),
            "description": _text(section.get("description"), where, "description", problems),
            "questions": [],
        }
        questions = section.get("questions")
        if not isinstance(questions, list) or not questions:
            problems.add(where, "'questions' must be a list of at least one question.")
            questions = []
        for q_index, q in enumerate(questions, 1):
            count += 1
            q_out = _question(q, f"{where}, question {q_index}", codes, earlier, problems)
            if q_out is not None:
                s_out["questions"].append(q_out)
                if isinstance(q_out["code"], str):
                    earlier[q_out["code"]] = q_out
        out["sections"].append(s_out)
    if count > MAX_QUESTIONS:
        problems.add("survey", f"A survey has at most {MAX_QUESTIONS} questions, not {count}.")
    if problems.items:
        first = problems.items[0]
        more = f" (and {len(problems.items) - 1} more problems; see details)" if len(problems.items) > 1 else ""
        raise ApplicationError(
            f"The survey definition is not valid: {first['where']}: {first['message']}{more}", details=problems.items
        )
    return out


def questions_of(definition: dict) -> list[dict]:
    """The questions of a valid definition in order, each with its section index and position."""
    found = []
    for s_index, section in enumerate(definition["sections"]):
        for q in section["questions"]:
            found.append({**q, "section": s_index, "position": len(found)})
    return found
