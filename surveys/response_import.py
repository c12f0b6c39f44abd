"""Read responses from another tool's CSV (or our own wide CSV) and check them, without the database.

A **mapping** says which column holds which answer: ``{"Q1 Keras": "familiar", "Q5a": "wrong_shape.clear"}``.
A target is one of

* a question code: the answer as text: an option of a single choice (case ignored), the options
  of a multiple choice joined by ``;``, a Likert point or a number, the text itself;
* ``QUESTION.ROW``: one row of a Likert matrix (a point of its scale);
* ``QUESTION.N``: option N (1-based) of a multiple choice, as 1/0 (also true/false, yes/no;
  empty = unanswered), as the wide CSV export writes it;
* ``submitted``: the day the response was submitted (``YYYY-MM-DD``, or an ISO date and time);
* ``response``: the other tool's response id (read, not stored: responses get new ids).

Without a mapping, every column of the header must be one of these targets (the wide CSV
export imports back as it is). With one, the columns it does not name are ignored.

Every problem is a ``LineError(line, column, message)`` (the header is line 1), all of them
collected so a person can fix the file in one go; nothing is imported while there is one.
A text cell that starts with ``'`` followed by a formula sign (as the CSV export writes it
for spreadsheets) is read without the ``'``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass

from config import csvsafe
from labelling.dataset.label_import import LineError, _text_lines, _UndecodableLine
from surveys.answers import answers_merge, missing_required
from surveys.results import questions_of, scale_points

SPECIAL_TARGETS = ("submitted", "response")
TRUE_WORDS = {"1", "true", "yes", "y", "x"}
FALSE_WORDS = {"0", "false", "no", "n"}


@dataclass(frozen=True, slots=True)
class ImportedResponse:
    line: int
    submitted: datetime.date | None
    answers: dict


@dataclass(frozen=True, slots=True)
class Target:
    question: dict | None  # None for submitted / response
    special: str = ""
    row: str | None = None
    option: int | None = None


def parse_mapping(pairs) -> dict[str, str]:
    """``["Q1=familiar", "Q5a=wrong_shape.clear"]`` -> a mapping; raises ValueError naming a bad pair.
    The column is everything before the last ``=`` (a column name may contain ``=``)."""
    mapping: dict[str, str] = {}
    for pair in pairs or ():
        column, sep, target = str(pair).rpartition("=")
        if not sep or not column.strip() or not target.strip():
            raise ValueError(f"'{pair}' is not COLUMN=CODE; write e.g. --map \"Q1 Keras=familiar\".")
        if column.strip() in mapping:
            raise ValueError(f"Column '{column.strip()}' is mapped twice; map each column once.")
        mapping[column.strip()] = target.strip()
    return mapping


def resolve_target(definition: dict, target: str) -> Target | str:
    """The :class:`Target` named by ``target``, or a message saying why it names nothing."""
    if target in SPECIAL_TARGETS:
        return Target(None, special=target)
    questions = {q["code"]: q for q in questions_of(definition)}
    if target in questions:
        return Target(questions[target])
    code, dot, part = target.rpartition(".")
    q = questions.get(code) if dot else None
    if q is None:
        return (
            f"'{target}' is not a question of the survey. Use a question code ({', '.join(questions) or 'none'}), "
            "QUESTION.ROW for a matrix row, QUESTION.N for option N of a multiple choice, submitted or response."
        )
    if q["kind"] == "matrix":
        rows = [r["code"] for r in q.get("rows") or ()]
        if part in rows:
            return Target(q, row=part)
        return f"'{target}': matrix '{code}' has no row '{part}'; its rows are {', '.join(rows)}."
    if q["kind"] == "multi":
        n = len(q.get("options") or ())
        if part.isdigit() and 1 <= int(part) <= n:
            return Target(q, option=int(part))
        return f"'{target}': multiple choice '{code}' has options 1 to {n}; write {code}.1 ... {code}.{n}."
    return f"'{target}': only a matrix row (QUESTION.ROW) or a multiple-choice option (QUESTION.N) has a '.' part."


def _unquote(text: str) -> str:
    if text[:1] == "'" and text[1:2] in csvsafe.FORMULA_PREFIXES:
        return text[1:]
    return text


def _option(q: dict, text: str) -> str | None:
    options = list(q.get("options") or ())
    if text in options:
        return text
    folded = {o.strip().casefold(): o for o in options}
    return folded.get(text.strip().casefold())


def _number(text: str, *, low=None, high=None, whole=False) -> tuple[object, str | None]:
    try:
        value = float(text.strip())
    except ValueError:
        return None, f"'{text}' is not a number"
    if not math.isfinite(value):
        return None, f"'{text}' is not a finite number"
    if whole and not value.is_integer():
        return None, f"'{text}' is not a whole number"
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{'' if low is None else low} to {'' if high is None else high}".strip()
        return None, f"{text.strip()} is outside the allowed range ({bounds})"
    return (int(value) if value.is_integer() else value), None


def _read_cell(target: Target, raw: str):
    """(value, error): the answer the cell gives for ``target`` (None for an empty cell)."""
    text = _unquote(raw)
    if text.strip() == "":
        return None, None
    if target.special == "submitted":
        try:
            return datetime.date.fromisoformat(text.strip()[:10]), None
        except ValueError:
            return None, f"'{text}' is not a date; write YYYY-MM-DD (e.g. 2026-11-02)"
    q = target.question
    kind = q["kind"]
    if target.option is not None:
        word = text.strip().casefold()
        if word in TRUE_WORDS:
            return True, None
        if word in FALSE_WORDS:
            return False, None
        return None, f"'{text}' is not 1 or 0 (chosen or not) for option {target.option} of '{q['code']}'"
    if kind == "single":
        option = _option(q, text)
        if option is None:
            return None, f"'{text}' is not an option of '{q['code']}'; the options are: {'; '.join(q['options'])}"
        return option, None
    if kind == "multi":
        chosen, bad = [], []
        for part in text.split(";"):
            if part.strip():
                option = _option(q, part)
                (chosen if option is not None else bad).append(option if option is not None else part.strip())
        if bad:
            return None, (
                f"{', '.join(repr(b) for b in bad)} not among the options of '{q['code']}' "
                f"({'; '.join(q['options'])}); separate several options with ;"
            )
        return [o for o in q["options"] if o in chosen], None
    if kind in ("likert", "matrix"):
        points = scale_points(q)
        return _number(text, low=points[0], high=points[-1], whole=True)
    if kind == "number":
        return _number(text, low=q.get("min"), high=q.get("max"))
    if "\x00" in text:
        return None, "the text contains a NUL character (\\0), which cannot be stored; remove it"
    return text, None


def read_responses(
    source, definition: dict, mapping: Mapping[str, str] | None = None
) -> tuple[list[ImportedResponse], list[LineError]]:
    """Parse and check ``source`` (a path, binary or text file) against ``definition``."""
    errors: list[LineError] = []
    responses: list[ImportedResponse] = []
    reader = csvsafe.reader(_text_lines(source))
    header: list[str] | None = None
    targets: list[Target | None] = []
    next_line = 1
    try:
        for record in reader:
            line, next_line = next_line, reader.line_num + 1
            if not any(field.strip() for field in record):
                continue
            if header is None:
                header = [h.strip() for h in record]
                targets, errors = _header_targets(header, definition, mapping)
                if errors:
                    return [], errors
                continue
            if len(record) != len(header):
                errors.append(
                    LineError(
                        line, "row", f"Expected {len(header)} fields (one per header column), found {len(record)}."
                    )
                )
                continue
            response, row_errors = _read_record(line, record, header, targets, definition)
            errors += row_errors
            if not row_errors:
                responses.append(response)
    except _UndecodableLine as exc:
        errors.append(LineError(exc.line, "file", "This line is not UTF-8 text. Save the file as UTF-8 CSV."))
    except csvsafe.CsvSyntaxError as exc:
        errors.append(LineError(exc.line, "file", f"The file is not valid CSV here: {exc}."))
    if header is None and not errors:
        errors.append(LineError(1, "header", "The file is empty; the first line must be the header."))
    elif header is not None and not responses and not errors:
        errors.append(LineError(2, "file", "The file has a header but no responses."))
    return (responses if not errors else []), errors


def _header_targets(header: list[str], definition: dict, mapping: Mapping[str, str] | None):
    errors, targets = [], []
    doubled = sorted({h for h in header if header.count(h) > 1})
    if doubled:
        errors.append(LineError(1, "header", f"Column(s) named twice: {', '.join(doubled)}; rename one of each."))
    if mapping:
        for column in mapping:
            if column not in header:
                errors.append(
                    LineError(1, column, f"The mapping names column '{column}', which the header does not have.")
                )
        used: dict[str, str] = {}
        for column, target in mapping.items():
            if target in used and target != "response":
                errors.append(
                    LineError(1, column, f"'{target}' is mapped from both '{used[target]}' and '{column}'; keep one.")
                )
            used.setdefault(target, column)
    for column in header:
        target_name = mapping.get(column) if mapping else column
        if target_name is None:
            targets.append(None)  # not in the mapping: ignored
            continue
        target = resolve_target(definition, target_name)
        if isinstance(target, str):
            hint = "" if mapping else " (without --map every column must be a question code, or map the columns)"
            errors.append(LineError(1, column, target + hint))
            targets.append(None)
        else:
            targets.append(target)
    whole = {t.question["code"] for t in targets if t and t.question and t.row is None and t.option is None}
    for t in targets:
        if t and t.question and (t.row is not None or t.option is not None) and t.question["code"] in whole:
            errors.append(
                LineError(1, "header", f"'{t.question['code']}' is given whole and by parts; map one or the other.")
            )
            break
    return targets, errors


def _read_record(line, record, header, targets, definition):
    errors, answers, submitted, columns_of, bad = [], {}, None, {}, set()
    for column, target, raw in zip(header, targets, record, strict=True):
        if target is None or target.special == "response":
            continue
        value, message = _read_cell(target, raw)
        if message:
            errors.append(LineError(line, column, message + "."))
            if target.question:
                bad.add(target.question["code"])
            continue
        if target.special == "submitted":
            submitted = value
            continue
        code = target.question["code"]
        columns_of.setdefault(code, column)
        if value is None:
            continue
        if target.row is not None:
            answers.setdefault(code, {})[target.row] = value
        elif target.option is not None:
            chosen = answers.setdefault(code, [])
            if value:
                chosen.append(target.question["options"][target.option - 1])
        else:
            answers[code] = value
    answers = {code: value for code, value in answers.items() if value != []}  # every option 0: none chosen
    questions = list(questions_of(definition))
    answers, problems = answers_merge(questions=questions, stored={}, given=answers, strict=True)
    for problem in problems:
        errors.append(LineError(line, columns_of.get(problem.code, problem.code), problem.message))
    for q in missing_required(questions=questions, answers=answers):
        if q["code"] in bad:
            continue  # its cell's error is reported already
        column = columns_of.get(q["code"])
        where = f"column '{column}'" if column else "no column (map a column to it)"
        if q["kind"] == "matrix" and q["code"] in answers:
            where += f": every row ({', '.join(r['code'] for r in q['rows'])}) needs an answer"
        errors.append(LineError(line, column or q["code"], f"'{q['code']}' is required and has no answer in {where}."))
    return ImportedResponse(line, submitted, answers), errors
