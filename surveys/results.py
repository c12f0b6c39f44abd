"""Survey results: per-question counts, percentages and statistics, from a definition and answers.

Pure functions, no database: :func:`tally_rows` counts an iterable of long answer rows (the
rows of the long CSV: response, question, row, value) into a :class:`Tally`; the selector
(``surveys.results_selectors``) builds the same :class:`Tally` with SQL aggregates instead.
:func:`survey_results` turns a definition and a tally into the results document of
``GET /api/surveys/SLUG/results/`` and ``manage.py survey_results SLUG --format json``::

    {"responses": 103, "questions": [
      {"code": "familiar", "kind": "single", "text": "...", "answered": 103,
       "counts": {"Yes": 58, "No": 45}, "percentages": {"Yes": 56.3, "No": 43.7}},
      {"code": "wrong_shape", "kind": "matrix", "category": "effect/wrong_shape", "answered": 101,
       "rows": [{"code": "clear", "answered": 101, "counts": {"1": 2, ...}, "agree_share": 71.3, ...}]}]}

Conventions (docs/surveys.md "Results"):

* ``answered`` counts the responses that gave the question (or matrix row) an answer; a
  percentage is of ``answered``, rounded to one decimal. For multiple choice the percentages
  add up to more than 100 (a respondent may choose several options).
* ``counts`` lists every option (or every point of a scale) in definition order, zeros
  included, then any value outside the definition (e.g. an answer to an older version) after
  them, so that nothing is silently dropped.
* Likert and matrix rows: ``agree_share`` is the percentage of answers in the top two points
  of the scale (4 and 5 on a 1-5 scale), ``disagree_share`` the bottom two (1 and 2), and
  ``neutral_share`` the rest; ``mean`` and ``median`` of the points.
* Numbers: ``mean``, ``median``, ``sd`` (sample standard deviation; null for one answer),
  ``min``, ``max``.
* Text: ``answers`` lists the non-empty answers in the order of the responses.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

CHOICE_KINDS = ("single", "multi")
SCALE_KINDS = ("likert", "matrix")


def questions_of(definition: dict) -> Iterator[dict]:
    """Every question of a survey definition, in order, across its sections."""
    for section in definition.get("sections") or ():
        yield from section.get("questions") or ()


def scale_points(question: dict) -> list[int]:
    """The points of a Likert or matrix scale, from ``min`` to ``max`` (1-5 by default)."""
    low, high = int(question.get("min", 1)), int(question.get("max", 5))
    return list(range(low, high + 1))


@dataclass(frozen=True, slots=True)
class AnswerRow:
    """One answer as the long CSV writes it: a matrix row has ``row``; a multiple-choice answer
    is one row per chosen option (``value`` the option); everything else one row, ``row`` None."""

    response: object
    question: str
    row: str | None
    value: object


@dataclass
class Tally:
    """What the results are computed from, however it was counted.

    ``answered[(question, row)]``: responses with an answer (``row`` None but for matrix rows;
    a matrix question also has its ``(code, None)``: responses answering at least one row);
    ``counts[(question, row)]``: a Counter of values (options as text, scale points as int);
    ``numbers[question]``: every number answer; ``texts[question]``: every text answer, in order.
    """

    responses: int = 0
    answered: dict = field(default_factory=dict)
    counts: dict = field(default_factory=lambda: defaultdict(Counter))
    numbers: dict = field(default_factory=lambda: defaultdict(list))
    texts: dict = field(default_factory=lambda: defaultdict(list))


def tally_rows(definition: dict, rows: Iterable[AnswerRow], *, responses: int) -> Tally:
    """Count long answer rows in plain Python (the reference the SQL selector is tested against).

    ``responses`` is the number of responses (a response that answered nothing has no row).
    Rows for questions not in ``definition`` are ignored.
    """
    kinds = {q["code"]: q["kind"] for q in questions_of(definition)}
    tally = Tally(responses=responses)
    who: dict = defaultdict(set)
    for r in rows:
        kind = kinds.get(r.question)
        if kind is None or r.value is None or r.value == "":
            continue
        if kind == "matrix":
            who[(r.question, r.row)].add(r.response)
            who[(r.question, None)].add(r.response)
            tally.counts[(r.question, r.row)][_point(r.value)] += 1
            continue
        who[(r.question, None)].add(r.response)
        if kind in CHOICE_KINDS:
            tally.counts[(r.question, None)][str(r.value)] += 1
        elif kind == "likert":
            tally.counts[(r.question, None)][_point(r.value)] += 1
        elif kind == "number":
            tally.numbers[r.question].append(r.value)
        else:
            tally.texts[r.question].append(str(r.value))
    tally.answered = {key: len(ids) for key, ids in who.items()}
    return tally


def _point(value):
    """A scale point as an int (answers are stored as numbers; an imported "4" is still 4)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def percentage(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def survey_results(definition: dict, tally: Tally) -> dict:
    """The results document (module docstring) of ``definition`` counted in ``tally``."""
    return {
        "responses": tally.responses,
        "questions": [question_results(q, tally) for q in questions_of(definition)],
    }


def question_results(question: dict, tally: Tally) -> dict:
    code, kind = question["code"], question["kind"]
    out = {"code": code, "kind": kind, "text": question.get("text", "")}
    if question.get("category"):
        out["category"] = question["category"]
    answered = tally.answered.get((code, None), 0)
    out["answered"] = answered
    if kind in CHOICE_KINDS:
        counts = _ordered_counts(list(question.get("options") or ()), tally.counts.get((code, None), Counter()))
        out["counts"] = counts
        out["percentages"] = {k: percentage(n, answered) for k, n in counts.items()}
    if kind in SCALE_KINDS:
        points = scale_points(question)
        out.update(min=points[0], max=points[-1])
        out.update(min_label=question.get("min_label", ""), max_label=question.get("max_label", ""))
    if kind == "likert":
        out.update(scale_results(question, tally.counts.get((code, None), Counter()), answered))
    elif kind == "matrix":
        out["rows"] = []
        for row in question.get("rows") or ():
            row_answered = tally.answered.get((code, row["code"]), 0)
            stats = scale_results(question, tally.counts.get((code, row["code"]), Counter()), row_answered)
            out["rows"].append({"code": row["code"], "text": row.get("text", ""), "answered": row_answered, **stats})
    elif kind == "number":
        out.update(number_results(tally.numbers.get(code, [])))
    elif kind not in CHOICE_KINDS:  # text
        out["answers"] = list(tally.texts.get(code, []))
    return out


def _ordered_counts(keys: list, counter: Counter) -> dict:
    counts = {str(k): counter.get(k, 0) for k in keys}
    for value, n in counter.items():  # values outside the definition, after the known ones
        if str(value) not in counts:
            counts[str(value)] = n
    return counts


def scale_results(question: dict, counter: Counter, answered: int) -> dict:
    """Counts, percentages and summary of one Likert scale (a Likert question or a matrix row)."""
    points = scale_points(question)
    counts = _ordered_counts(points, counter)
    agree_points, disagree_points = set(points[-2:]), set(points[:2])
    on_scale = [(p, counter.get(p, 0)) for p in points]
    agree = sum(n for p, n in on_scale if p in agree_points)
    disagree = sum(n for p, n in on_scale if p in disagree_points and p not in agree_points)
    values = [p for p, n in on_scale for _ in range(n)]
    return {
        "counts": counts,
        "percentages": {k: percentage(n, answered) for k, n in counts.items()},
        "agree_share": percentage(agree, answered),
        "disagree_share": percentage(disagree, answered),
        "neutral_share": percentage(answered - agree - disagree, answered) if answered else None,
        "mean": round(statistics.fmean(values), 2) if values else None,
        "median": statistics.median(values) if values else None,
    }


def number_results(numbers: list) -> dict:
    values = [float(v) for v in numbers]
    if not values:
        return {"mean": None, "median": None, "sd": None, "min": None, "max": None}
    return {
        "mean": round(statistics.fmean(values), 2),
        "median": _plain(statistics.median(values)),
        "sd": round(statistics.stdev(values), 2) if len(values) > 1 else None,
        "min": _plain(min(values)),
        "max": _plain(max(values)),
    }


def _plain(x: float):
    """3.0 -> 3 (numbers are mostly whole: years, people), 2.5 stays 2.5."""
    return int(x) if float(x).is_integer() else x
