"""A study's surveys in a dataset release (``labelling.releases``): written as tables, loaded back.

Per survey of the study a release holds

* ``data/survey_<slug>.csv``: the long table of its **submitted** responses, one row per answer
  (a multiple-choice answer one row per option, a matrix one row per row), columns
  ``response, version, submitted, question, row, value, dimension, category``. Responses are
  pseudonymous, ``R1, R2, ...`` in the order they were stored; rows follow the response, then the
  question's position in its version. A response that answered nothing is one row with an empty
  question, so that it still counts. Dates are days (as stored).
* ``surveys/<slug>.json``: the survey's title, status, working definition and every version's
  frozen definition (the questions the answers refer to).

In-progress responses, invitations and links are not released (they are not data, and tokens
must not leave the instance). Loading recreates each survey, its versions with their questions
and its submitted responses with their answers, after checking every row against its version
(question, matrix row, option, range, the category the question asks about); any problem refuses
the whole package.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from config.errors import ApplicationError
from labelling.models import Study
from labelling.releases import package as pk
from labelling.releases.loader import refuse
from surveys.answers import AnswerProblem, answer_clean
from surveys.exports import answer_rows, category_parts
from surveys.models import Answer, Question, Response, Survey, SurveyVersion
from surveys.results_selectors import response_records
from surveys.services import version_make
from surveys.validation import definition_validate, questions_of

FORMAT = 1
RESPONSE_ID = re.compile(r"^R[1-9][0-9]*$")


@dataclass
class SurveyTable:
    """One survey as a release writes it: ``data/survey_<name>.csv`` (``fields``, ``rows``) and
    ``surveys/<name>.json`` (``document``)."""

    name: str
    fields: list[pk.Field]
    rows: Iterator[list]
    document: dict

    @property
    def header(self) -> list[str]:
        return [f.name for f in self.fields]


def survey_fields(codes: list[str]) -> list[pk.Field]:
    return [
        pk.Field(
            "response",
            "string",
            "The response (pseudonym R1, R2, ... in the order answered).",
            pattern=RESPONSE_ID.pattern,
            required=True,
        ),  # fmt: skip
        pk.Field("version", "integer", "The survey version it answered (surveys/<slug>.json).", required=True),
        pk.Field("submitted", "date", "The day it was submitted.", required=True),
        pk.Field(
            "question",
            "string",
            "The question's code (empty: the response answered nothing).",
            enum=tuple(codes) or None,
        ),  # fmt: skip
        pk.Field("row", "string", "A matrix question's row code; empty otherwise."),
        pk.Field(
            "value",
            "string",
            "The answer: the option (single or multiple choice, one row per option), "
            "the scale point, the number or the text.",
        ),  # fmt: skip
        pk.Field("dimension", "string", "The codebook dimension the question asks about, if any."),
        pk.Field("category", "string", "The codebook category the question asks about, if any."),
    ]


def _document(survey: Survey, versions: list[SurveyVersion]) -> dict:
    return {
        "format": FORMAT,
        "slug": survey.slug,
        "title": survey.title,
        "status": survey.status,
        "definition": survey.definition,
        "versions": [{"number": v.number, "definition": v.definition} for v in versions],
    }


def _rows(survey: Survey, versions: dict[int, SurveyVersion]) -> Iterator[list]:
    records = response_records(survey=survey)
    version_of = dict(
        Response.objects.filter(survey=survey, status=Response.Status.SUBMITTED).values_list("id", "version_id")
    )
    categories = {
        v.id: {q["code"]: category_parts(q.get("category")) for q in questions_of(v.definition)}
        for v in versions.values()
    }
    by_id = {v.id: v for v in versions.values()}
    for n, record in enumerate(records, start=1):
        version = by_id[version_of[record.id]]
        day = record.submitted.isoformat() if record.submitted else ""
        answered = False
        for a in answer_rows(version.definition, record):
            answered = True
            yield [f"R{n}", version.number, day, a.question, a.row or "", a.value, *categories[version.id][a.question]]
        if not answered:
            yield [f"R{n}", version.number, day, "", "", "", "", ""]


def study_survey_tables(study: Study) -> list[SurveyTable]:
    """Every survey of ``study`` (by slug), its submitted answers as a lazy long table."""
    out = []
    for survey in Survey.objects.filter(study=study).order_by("slug"):
        versions = list(SurveyVersion.objects.filter(survey=survey).order_by("number"))
        codes: list[str] = []
        for v in versions:
            codes += [q["code"] for q in questions_of(v.definition) if q["code"] not in codes]
        out.append(
            SurveyTable(
                name=survey.slug,
                fields=survey_fields(codes),
                rows=_rows(survey, {v.number: v for v in versions}),
                document=_document(survey, versions),
            )
        )
    return out


# -- loading ------------------------------------------------------------------------------


@dataclass
class LoadedSurvey:
    name: str  # the slug in the package
    slug: str  # the slug here (the package's, or suffixed when it is taken)
    responses: int
    answers: int

    def as_dict(self) -> dict:
        return {"name": self.name, "slug": self.slug, "responses": self.responses, "answers": self.answers}


@dataclass
class _Parsed:
    name: str
    document: dict
    versions: list[tuple[int, dict]]  # (number, clean definition)
    # response pseudonym -> (version number, submitted day, {question code: value})
    responses: dict[str, tuple[int, str, dict]] = field(default_factory=dict)


def _parse_document(name: str, path: Path, problems: list[str]) -> _Parsed | None:
    where = f"surveys/{name}.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{where} cannot be read: {exc}.")
        return None
    if not isinstance(document, dict) or not isinstance(document.get("versions"), list):
        problems.append(f"{where} is not a survey document (an object with 'title', 'definition', 'versions').")
        return None
    if document.get("status") not in Survey.Status.values:
        problems.append(f"{where}: status {document.get('status')!r} is not one of {', '.join(Survey.Status.values)}.")
    versions = []
    for i, v in enumerate(document["versions"]):
        number = v.get("number") if isinstance(v, dict) else None
        if number != i + 1:
            problems.append(f"{where}: version {i + 1} is numbered {number!r}; versions are numbered 1, 2, ...")
            return None
        try:
            versions.append((number, definition_validate(v.get("definition"))))
        except ApplicationError as exc:
            problems.append(f"{where}: version {number}'s definition is not valid: {exc.message}")
            return None
    try:
        definition_validate(document.get("definition"))
    except ApplicationError as exc:
        problems.append(f"{where}: the working definition is not valid: {exc.message}")
        return None
    return _Parsed(name=name, document=document, versions=versions)


def _value(q: dict, text: str):
    """The CSV cell as the answering API's value for one row of ``q`` (``answer_clean`` checks it)."""
    if q["kind"] not in ("likert", "matrix", "number"):
        return text
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        raise AnswerProblem(q["code"], f"'{q['code']}': {text!r} is not a number.") from None


def _parse_rows(parsed: _Parsed, path: Path, problems: list[str]) -> None:
    where = f"data/survey_{parsed.name}.csv"
    questions = {n: {q["code"]: q for q in questions_of(d)} for n, d in parsed.versions}
    seen: set[tuple] = set()
    with path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            if len(problems) > 50:
                return
            rid, code, row_code, text = row["response"], row["question"], row["row"], row["value"]
            try:
                number = int(row["version"])
            except ValueError:
                number = None
            if number not in questions:
                problems.append(
                    f"{where} line {line}: version {row['version']!r} is not in surveys/{parsed.name}.json."
                )
                continue
            version, day, answers = parsed.responses.setdefault(rid, (number, row["submitted"], {}))
            if (version, day) != (number, row["submitted"]):
                problems.append(
                    f"{where} line {line}: response {rid} is given version {number} submitted {row['submitted']}, "
                    f"but earlier rows say version {version} submitted {day}."
                )
                continue
            if code == "":
                if row_code or text or answers or (rid, "") in seen:
                    problems.append(f"{where} line {line}: a row without a question must be a response's only row.")
                seen.add((rid, ""))
                continue
            q = questions[number].get(code)
            if q is None:
                problems.append(f"{where} line {line}: version {number} has no question '{code}'.")
                continue
            if (row["dimension"], row["category"]) != category_parts(q.get("category")):
                problems.append(
                    f"{where} line {line}: question '{code}' asks about {q.get('category') or 'no category'!r}, "
                    f"not '{row['dimension']}/{row['category']}'."
                )
                continue
            key = (rid, code, row_code, text if q["kind"] == "multi" else None)
            if key in seen or (rid, "") in seen:
                problems.append(f"{where} line {line}: response {rid} answers '{code}' {row_code} twice.")
                continue
            seen.add(key)
            try:
                value = _value(q, text)
                if q["kind"] == "matrix":
                    if row_code not in [r["code"] for r in q.get("rows") or ()]:
                        raise AnswerProblem(code, f"'{code}': {row_code!r} is not one of its rows.")
                    answers.setdefault(code, {})[row_code] = value
                elif row_code:
                    raise AnswerProblem(code, f"'{code}' is not a matrix; its row must be empty, not {row_code!r}.")
                elif q["kind"] == "multi":
                    answers.setdefault(code, []).append(value)
                else:
                    answers[code] = value
                answer_clean(q, answers[code])
            except AnswerProblem as exc:
                problems.append(f"{where} line {line}: {exc.message}")


def _free_slug(name: str, study: Study) -> str:
    if not Survey.objects.filter(slug=name).exists():
        return name
    base = f"{name}-{study.slug}"[:76]
    slug, n = base, 1
    while Survey.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _write(study: Study, parsed: _Parsed) -> LoadedSurvey:
    doc = parsed.document
    working = definition_validate(doc["definition"])
    survey = Survey.objects.create(
        study=study,
        slug=_free_slug(parsed.name, study),
        title=working["title"],
        definition=working,
        status=doc["status"],
    )
    versions = {}
    for number, definition in parsed.versions:
        versions[number] = version_make(survey=survey, definition=definition, created_by=None)
    survey.save(update_fields=["current_version"])
    questions = {(q.version_id, q.code): q for q in Question.objects.filter(version__in=list(versions.values()))}
    made = Response.objects.bulk_create(
        Response(
            survey=survey,
            version=versions[number],
            status=Response.Status.SUBMITTED,
            consent_at=day,
            submitted_at=day,
        )
        for number, day, _ in parsed.responses.values()
    )
    answers = []
    for response, (number, _, given) in zip(made, parsed.responses.values(), strict=True):
        by_code = {q["code"]: q for q in questions_of(versions[number].definition)}
        for code, raw in given.items():
            question = questions[(response.version_id, code)]
            value = answer_clean(by_code[code], raw)
            if question.kind == Question.Kind.MATRIX:
                answers += [
                    Answer(response=response, question=question, row_code=r, value=v, number=v)
                    for r, v in value.items()
                ]
            else:
                number_value = value if question.kind in (Question.Kind.LIKERT, Question.Kind.NUMBER) else None
                answers.append(Answer(response=response, question=question, value=value, number=number_value))
    Answer.objects.bulk_create(answers, batch_size=2000)
    return LoadedSurvey(parsed.name, survey.slug, len(made), len(answers))


def load_study_survey_tables(study: Study, directory: Path) -> list[LoadedSurvey]:
    """Recreate the surveys of the unpacked package in ``directory`` for ``study`` (inside the
    loader's transaction). Everything is checked first; any problem: ApplicationError listing
    them, and nothing is written (the loader rolls back what it wrote before)."""
    tables = {p.stem.removeprefix("survey_"): p for p in (directory / "data").glob("survey_*.csv")}
    documents = {p.stem: p for p in (directory / "surveys").glob("*.json")} if (directory / "surveys").is_dir() else {}
    problems = [f"data/survey_{n}.csv has no surveys/{n}.json (the survey's questions)." for n in tables
                if n not in documents]  # fmt: skip
    problems += [f"surveys/{n}.json has no data/survey_{n}.csv (its answers)." for n in documents if n not in tables]
    parsed = []
    for name in sorted(set(tables) & set(documents)):
        one = _parse_document(name, documents[name], problems)
        if one is not None:
            _parse_rows(one, tables[name], problems)
            parsed.append(one)
    if problems:
        refuse(problems)
    return [_write(study, p) for p in parsed]
