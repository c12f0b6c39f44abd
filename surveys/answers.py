"""Checking a respondent's answers against a version's questions (pure functions, no database).

An answer is given as the API takes it: ``"Yes"`` (single), ``["a", "b"]`` (multi), ``4``
(Likert), ``{"clear": 5, "relevant": 4}`` (matrix), ``3`` (number), ``"..."`` (text); ``null``
or an empty value clears it. A question whose condition does not hold is not shown: it is
never required, and an answer to it is refused (API) or dropped (pages, where a question in
the same section may have been visible without JavaScript).
"""

from __future__ import annotations

import math

from config.text import json_kind

MAX_ANSWER_CHARS = 10_000


class AnswerProblem(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _number(value):
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _in_range(q: dict, value, what: str) -> None:
    low, high = q.get("min"), q.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"from {low} to {high}"
            if low is not None and high is not None
            else (f"at least {low}" if low is not None else f"at most {high}")
        )
        raise AnswerProblem(q["code"], f"'{q['code']}': {what} {value} is out of range; give a number {bounds}.")


def answer_clean(q: dict, value):
    """The answer in canonical form, or AnswerProblem naming the question and what to fix."""
    code, kind = q["code"], q["kind"]
    if kind == "single":
        if not isinstance(value, str) or value not in q["options"]:
            raise AnswerProblem(code, f"'{code}': {value!r} is not one of its options ({', '.join(q['options'])}).")
        return value
    if kind == "multi":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AnswerProblem(code, f"'{code}': give a list of options, not {json_kind(value)}.")
        for v in value:
            if v not in q["options"]:
                raise AnswerProblem(code, f"'{code}': {v!r} is not one of its options ({', '.join(q['options'])}).")
        if len(set(value)) != len(value):
            raise AnswerProblem(code, f"'{code}': an option is picked twice.")
        return [o for o in q["options"] if o in value]  # in the options' order
    if kind == "likert":
        number = _number(value)
        if number is None or not float(number).is_integer():
            raise AnswerProblem(code, f"'{code}': give a whole number from {q['min']} to {q['max']}.")
        _in_range(q, int(number), "the answer")
        return int(number)
    if kind == "matrix":
        if not isinstance(value, dict):
            raise AnswerProblem(code, f"'{code}': give an object of row codes and numbers, not {json_kind(value)}.")
        rows = [r["code"] for r in q["rows"]]
        out = {}
        for row, v in value.items():
            if row not in rows:
                raise AnswerProblem(code, f"'{code}': '{row}' is not one of its rows ({', '.join(rows)}).")
            if v is None:
                continue
            number = _number(v)
            if number is None or not float(number).is_integer():
                raise AnswerProblem(code, f"'{code}', row '{row}': give a whole number from {q['min']} to {q['max']}.")
            _in_range(q, int(number), f"row '{row}':")
            out[row] = int(number)
        return {r: out[r] for r in rows if r in out}
    if kind == "number":
        number = _number(value)
        if number is None:
            raise AnswerProblem(code, f"'{code}': give a number, not {json_kind(value)}.")
        _in_range(q, number, "the answer")
        return int(number) if float(number).is_integer() else number
    if not isinstance(value, str):
        raise AnswerProblem(code, f"'{code}': give text, not {json_kind(value)}.")
    if len(value) > MAX_ANSWER_CHARS:
        raise AnswerProblem(code, f"'{code}': the answer is {len(value)} characters; keep it under {MAX_ANSWER_CHARS}.")
    return value


def condition_holds(q: dict, answers: dict) -> bool:
    """Is ``q`` shown, given the answers so far?"""
    condition = q.get("condition")
    if not condition:
        return True
    given = answers.get(condition["question"])
    if isinstance(given, list):
        return condition["equals"] in given
    return given is not None and given == condition["equals"]


def is_complete(q: dict, value) -> bool:
    if _empty(value):
        return False
    if q["kind"] == "matrix":
        return all(r["code"] in value for r in q["rows"])
    if q["kind"] == "text":
        return bool(value.strip())
    return True


def answers_merge(
    *, questions: list[dict], stored: dict, given: dict, strict: bool = True
) -> tuple[dict, list[AnswerProblem]]:
    """``stored`` answers updated with ``given`` ones, and the problems found (all of them).

    Values are cleaned; an empty value removes the answer. Answers to questions whose condition
    no longer holds are removed; ``strict`` refuses a new answer to such a question instead.
    """
    by_code = {q["code"]: q for q in questions}
    problems: list[AnswerProblem] = []
    merged = dict(stored)
    for code, value in given.items():
        q = by_code.get(code)
        if q is None:
            problems.append(AnswerProblem(str(code), f"'{code}' is not a question of this survey."))
            continue
        if _empty(value):
            merged.pop(code, None)
            continue
        try:
            merged[code] = answer_clean(q, value)
        except AnswerProblem as problem:
            problems.append(problem)
    for q in questions:  # in order: a condition only looks back
        if q["code"] in merged and not condition_holds(q, merged):
            if strict and q["code"] in given and not _empty(given[q["code"]]):
                c = q["condition"]
                problems.append(
                    AnswerProblem(
                        q["code"],
                        f"'{q['code']}' is asked only when '{c['question']}' is {c['equals']!r}; leave it out.",
                    )
                )
            merged.pop(q["code"])
    return merged, problems


def missing_required(*, questions: list[dict], answers: dict) -> list[dict]:
    """The required questions that are shown and not (completely) answered."""
    return [
        q
        for q in questions
        if q["required"] and condition_holds(q, answers) and not is_complete(q, answers.get(q["code"]))
    ]
