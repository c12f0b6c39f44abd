"""Survey exports: the wide CSV, the long CSV, SPSS-friendly numeric coding and the category table.

Pure functions, no database: each takes a survey definition and the responses as
:class:`ResponseRecord` (an id, the day it was submitted and its answers in the shape of the
answering API: ``{"familiar": "Yes", "tools": ["a"], "scale": 4, "wrong_shape": {"clear": 5},
"years": 3, "comments": "..."}``), and yields CSV rows or writes them through
``config.csvsafe`` (text cells a spreadsheet would run as a formula get a leading ``'``).
docs/surveys.md "Exports" is the data dictionary; in short:

* **wide** (``format=csv``): one row per response, columns ``response``, ``submitted``, then one
  per question, except a matrix (one column per row, ``question.row``) and multiple choice (one
  0/1 column per option, ``question.N`` with N the option's 1-based position). An unanswered
  question is an empty cell (a multiple-choice question answered with some options has 0 in
  the others). ``header="text"`` adds a second header row with the question's text.
* **numeric** (``coding="numeric"``, for SPSS, R, Stata): the wide CSV with every single-choice
  answer written as the option's 1-based position; :func:`spss_syntax` gives the matching
  ``VARIABLE LABELS`` / ``VALUE LABELS``. Likert points, numbers and 0/1 are numbers already.
* **long** (``format=long``): one row per answer, ``response, submitted, question, row, value,
  dimension, category``; a multiple-choice answer is one row per chosen option.
* **categories** (``format=categories``): one row per Likert scale that asks about a codebook
  category (a generated matrix row or Likert), with its counts summary, keyed by
  ``dimension, category`` like the labelled-dataset export's columns, to join "developers'
  agreement with this category" to the labels.
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from config import csvsafe
from surveys.results import AnswerRow, questions_of

WIDE_FIXED = ("response", "submitted")
LONG_COLUMNS = ("response", "submitted", "question", "row", "value", "dimension", "category")
CATEGORY_COLUMNS = (
    "dimension",
    "category",
    "question",
    "row",
    "statement",
    "answered",
    "agree_share",
    "disagree_share",
    "mean",
    "median",
)
CODINGS = ("labels", "numeric")


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    id: object
    submitted: datetime.date | None
    answers: dict


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the wide CSV: ``name`` (the header), the question, and the matrix row or
    multiple-choice option position (1-based) it holds, if any."""

    name: str
    question: dict
    row: dict | None = None
    option: int | None = None

    @property
    def label(self) -> str:
        text = self.question.get("text", "")
        if self.row is not None:
            return f"{text} - {self.row.get('text', self.row['code'])}"
        if self.option is not None:
            return f"{text} - {self.question['options'][self.option - 1]}"
        return text


def category_parts(reference: str | None) -> tuple[str, str]:
    """``"effect/wrong_shape"`` -> ``("effect", "wrong_shape")``; no category -> ``("", "")``."""
    if not reference:
        return "", ""
    dimension, _, category = str(reference).partition("/")
    return dimension, category


def wide_columns(definition: dict) -> list[Column]:
    columns = []
    for q in questions_of(definition):
        if q["kind"] == "matrix":
            columns += [Column(f"{q['code']}.{row['code']}", q, row=row) for row in q.get("rows") or ()]
        elif q["kind"] == "multi":
            columns += [Column(f"{q['code']}.{n}", q, option=n) for n in range(1, len(q.get("options") or ()) + 1)]
        else:
            columns.append(Column(q["code"], q))
    return columns


def _cell(column: Column, answers: dict, coding: str):
    q = column.question
    value = answers.get(q["code"])
    if value is None or value == "" or value == [] or value == {}:
        return None
    if column.row is not None:
        return value.get(column.row["code"]) if isinstance(value, dict) else None
    if column.option is not None:
        return 1 if q["options"][column.option - 1] in value else 0
    if q["kind"] == "single" and coding == "numeric":
        options = list(q.get("options") or ())
        return options.index(value) + 1 if value in options else value
    return value


def wide_rows(definition: dict, responses: Iterable[ResponseRecord], *, coding="labels", header="codes") -> Iterator:
    """The wide CSV as rows: the header (codes), optionally the question texts, then one row per response."""
    columns = wide_columns(definition)
    yield [*WIDE_FIXED, *(c.name for c in columns)]
    if header == "text":
        yield ["", "", *(c.label for c in columns)]
    for r in responses:
        yield [r.id, _date(r.submitted), *(_cell(c, r.answers, coding) for c in columns)]


def answer_rows(definition: dict, record: ResponseRecord) -> Iterator[AnswerRow]:
    """The long rows of one response (what ``surveys.results.tally_rows`` counts)."""
    for q in questions_of(definition):
        value = record.answers.get(q["code"])
        if value is None or value == "":
            continue
        if q["kind"] == "matrix" and isinstance(value, dict):
            for row in q.get("rows") or ():
                if value.get(row["code"]) not in (None, ""):
                    yield AnswerRow(record.id, q["code"], row["code"], value[row["code"]])
        elif q["kind"] == "multi" and isinstance(value, list):
            for option in value:
                yield AnswerRow(record.id, q["code"], None, option)
        else:
            yield AnswerRow(record.id, q["code"], None, value)


def long_rows(definition: dict, responses: Iterable[ResponseRecord]) -> Iterator:
    categories = {q["code"]: category_parts(q.get("category")) for q in questions_of(definition)}
    yield list(LONG_COLUMNS)
    for record in responses:
        day = _date(record.submitted)
        for a in answer_rows(definition, record):
            yield [record.id, day, a.question, a.row or "", a.value, *categories[a.question]]


def category_rows(definition: dict, results: dict) -> Iterator:
    """One row per Likert scale about a codebook category, from ``surveys.results.survey_results``."""
    yield list(CATEGORY_COLUMNS)
    for q in results["questions"]:
        if not q.get("category") or q["kind"] not in ("likert", "matrix"):
            continue
        dimension, category = category_parts(q["category"])
        for row in q["rows"] if q["kind"] == "matrix" else [q]:
            yield [
                dimension,
                category,
                q["code"],
                row["code"] if q["kind"] == "matrix" else "",
                row["text"],
                row["answered"],
                row["agree_share"],
                row["disagree_share"],
                row["mean"],
                row["median"],
            ]


def _date(value) -> str:
    return value.isoformat() if value else ""


def write_csv(rows: Iterable, out) -> None:
    csvsafe.writer(out).writerows(rows)


def csv_text(rows: Iterable) -> str:
    out = io.StringIO()
    write_csv(rows, out)
    return out.getvalue()


# -- SPSS ---------------------------------------------------------------------------------

_NOT_NAME = re.compile(r"[^A-Za-z0-9_.]")


def spss_name(column_name: str) -> str:
    """A valid SPSS variable name for a wide column: letters, digits, ``_`` and ``.``, starting with
    a letter, not ending with ``.``, at most 64 characters (``1st.q`` -> ``v1st.q``)."""
    name = _NOT_NAME.sub("_", column_name)
    if not name[:1].isalpha():
        name = "v" + name
    return name[:64].rstrip(".") or "v"


def _spss_text(text: str) -> str:
    return '"' + str(text).replace('"', '""').replace("\n", " ") + '"'


def spss_syntax(definition: dict, *, filename: str = "survey.csv") -> str:
    """SPSS syntax reading the numeric wide CSV (``coding="numeric"``) and labelling it: variable
    labels from the question texts, value labels for single choice (option positions), Likert
    ends and 0/1 options."""
    columns = wide_columns(definition)
    lines = [
        "* Bugsift survey export: run with the numeric wide CSV beside this file.",
        "GET DATA /TYPE=TXT /FILE=" + _spss_text(filename),
        "  /ENCODING='UTF8' /DELIMITERS=',' /QUALIFIER='\"' /ARRANGEMENT=DELIMITED /FIRSTCASE=2",
        "  /VARIABLES=",
        "  response A64",
        "  submitted SDATE10",
    ]
    for c in columns:
        kind = c.question["kind"]
        fmt = "A2000" if kind == "text" else ("F8.0" if kind != "number" else "F12.3")
        lines.append(f"  {spss_name(c.name)} {fmt}")
    lines[-1] += "."
    lines.append("VARIABLE LABELS")
    lines += [f"  {spss_name(c.name)} {_spss_text(c.label)}" for c in columns]
    lines[-1] += "."
    value_labels = []
    for c in columns:
        q = c.question
        if q["kind"] == "single":
            pairs = [f"{n} {_spss_text(o)}" for n, o in enumerate(q.get("options") or (), start=1)]
        elif c.option is not None:
            pairs = ['0 "not chosen"', '1 "chosen"']
        elif q["kind"] in ("likert", "matrix"):
            points = list(range(int(q.get("min", 1)), int(q.get("max", 5)) + 1))
            pairs = [f"{points[0]} {_spss_text(q.get('min_label') or points[0])}"]
            pairs.append(f"{points[-1]} {_spss_text(q.get('max_label') or points[-1])}")
        else:
            continue
        value_labels.append(f"  /{spss_name(c.name)} " + " ".join(pairs))
    if value_labels:
        value_labels[0] = "  " + value_labels[0].lstrip()[1:]
        lines += ["VALUE LABELS", *value_labels]
        lines[-1] += "."
    lines.append("EXECUTE.")
    return "\n".join(lines) + "\n"
