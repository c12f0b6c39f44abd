"""Read and check a long-format label file, without touching the database.

The file is a UTF-8 CSV with the header ``source_id,annotator,dimension,value[,note]`` (any
column order, case ignored). Each line gives one label:

* ``source_id``: the report, e.g. ``github:pytorch/pytorch#1234``;
* ``annotator``: the username who gave the label; EMPTY means the line is a FINAL label;
* ``dimension``: a dimension of the study's codebook, by code or name (case ignored);
* ``value``: a category code or name (case ignored), several joined by ``;`` for multiple
  choice, or the text itself for a free-text dimension;
* ``note`` (optional): the annotator's note.

Every problem is reported as a :class:`LineError` carrying the CSV line number (the header is
line 1; a record that spans several lines is numbered by its first line), so a person can
fix them all in one go. Quotes are read strictly (``config.csvsafe.reader``): a quoted value
whose closing quote is missing is an error on the line where it starts, not the rest of the
file. :func:`iter_label_rows` parses as a stream (:func:`read_label_rows` into a list);
:class:`LabelRowChecker` checks one row at a time, remembering what it worked out;
:func:`validate_label_rows` checks the rows against a
codebook and the set of known reports and returns canonical rows; :func:`annotator_errors`
checks the usernames against the study's annotators: labels are only imported for accounts
that are annotators of the study already (or, when the import may create accounts, for
usernames that have no account yet).
"""

from __future__ import annotations

import sys
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

from config import csvsafe
from labelling.models import Category, Dimension, Membership
from labelling.values import CategoryIndex, canonical_value

REQUIRED_COLUMNS = ("source_id", "annotator", "dimension", "value")
OPTIONAL_COLUMNS = ("note",)
HEADER_HINT = "source_id,annotator,dimension,value[,note]"
USERNAME_MAX_LENGTH = 150
_username_validator = UnicodeUsernameValidator()


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"line {self.line} ({self.field}): {self.message}"


@dataclass(frozen=True, slots=True)
class RawLabelRow:
    """One line of the file as written (fields stripped, except the note)."""

    line: int
    source_id: str
    annotator: str
    dimension: str
    value: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class LabelRow:
    """A checked line: ``dimension`` is the dimension code and ``value`` the canonical value."""

    line: int
    source_id: str
    annotator: str  # "" = a final label
    dimension: str
    value: str
    note: str = ""

    @property
    def is_final(self) -> bool:
        return not self.annotator


class _UndecodableLine(Exception):
    def __init__(self, line: int):
        self.line = line


def _text_lines(source) -> Iterator[str]:
    """Yield the lines of ``source`` as text with their line endings (for the csv module).

    ``source`` is a path, a binary file (an upload, ``open(..., "rb")``) or a text file.
    """
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            yield from _text_lines(fh)
        return
    stream = getattr(source, "file", source)  # Django's UploadedFile wraps the real file
    if hasattr(stream, "seek") and getattr(stream, "seekable", lambda: True)():
        stream.seek(0)
    for number, raw in enumerate(stream, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _UndecodableLine(number) from None
        else:
            line = raw
        if number == 1:
            line = line.removeprefix("\ufeff")
        yield line


def _header_errors(header: list[str]) -> list[LineError]:
    names = [h.strip().lower() for h in header]
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    unknown = [h for h in names if h not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    doubled = sorted({h for h in names if names.count(h) > 1})
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(repr(u) for u in unknown)}")
    if doubled:
        problems.append(f"column(s) given twice: {', '.join(doubled)}")
    if not problems:
        return []
    return [LineError(1, "header", f"The header must be {HEADER_HINT}; {'; '.join(problems)}.")]


def iter_label_rows(source, errors: list[LineError]) -> Iterator[RawLabelRow]:
    """Parse ``source`` row by row (the file is streamed, never held whole), appending every problem
    to ``errors``. A bad header stops the reading (no rows are yielded)."""
    lines = _text_lines(source)
    reader = csvsafe.reader(lines)  # strict: an unterminated quote is an error, not the rest of the file
    columns: list[str] | None = None
    next_line = 1  # the physical line the next record starts on
    intern = sys.intern
    try:
        for record in reader:
            line, next_line = next_line, reader.line_num + 1
            if columns is None:
                if not any(field.strip() for field in record):
                    continue  # blank line
                header_errors = _header_errors(record)
                if header_errors:
                    errors += header_errors
                    return
                columns = [h.strip().lower() for h in record]
                width = len(columns)
                at = [columns.index(c) for c in REQUIRED_COLUMNS]
                note_at = columns.index("note") if "note" in columns else None
                continue
            if len(record) != width:
                if not any(field.strip() for field in record):
                    continue  # blank line
                errors.append(
                    LineError(
                        line,
                        "row",
                        f"Expected {width} fields ({','.join(columns)}), found {len(record)}. "
                        'Quote values that contain commas, e.g. "crash;hang" or "a, b".',
                    )
                )
                continue
            source_id, annotator, dimension, value = (record[i] for i in at)
            note = record[note_at] if note_at is not None else ""
            if not (source_id.strip() or annotator.strip() or dimension.strip() or value.strip() or note.strip()):
                continue  # blank line
            yield RawLabelRow(  # interned: a large file repeats a few reports, annotators and values many times
                line,
                intern(source_id.strip()),
                intern(annotator.strip()),
                intern(dimension.strip()),
                intern(value),
                note,
            )
    except _UndecodableLine as exc:
        errors.append(LineError(exc.line, "file", "This line is not UTF-8 text. Save the file as UTF-8 CSV."))
    except csvsafe.CsvSyntaxError as exc:
        errors.append(LineError(exc.line, "file", f"The file is not valid CSV here: {exc}."))
    if columns is None and not errors:
        errors.append(LineError(1, "header", f"The file is empty. The first line must be the header {HEADER_HINT}."))


def read_label_rows(source) -> tuple[list[RawLabelRow], list[LineError]]:
    """Parse ``source`` into rows (all of them in a list; ``iter_label_rows`` streams them)."""
    errors: list[LineError] = []
    rows = list(iter_label_rows(source, errors))
    return rows, errors


class CodebookLookup:
    """The study's dimensions by code or name (case ignored), each with its category index."""

    def __init__(self, dimensions: Iterable[tuple[Dimension, Iterable[Category]]]):
        self.dimensions: dict[str, tuple[Dimension, CategoryIndex]] = {}
        self._lookup: dict[str, str] = {}
        entries = [(d, CategoryIndex(d, list(cats))) for d, cats in dimensions]
        for d, index in entries:
            self.dimensions[d.code] = (d, index)
            self._lookup.setdefault(d.name.strip().lower(), d.code)
        for d, _ in entries:  # codes win over names
            self._lookup[d.code.lower()] = d.code

    def find(self, token: str) -> tuple[Dimension, CategoryIndex] | None:
        code = self._lookup.get(token.strip().lower())
        return self.dimensions[code] if code else None

    def codes_hint(self) -> str:
        return ", ".join(self.dimensions) or "(the codebook has no dimensions yet)"


@lru_cache(maxsize=4096)  # a file names a few annotators on a million lines
def _username_error(username: str) -> str | None:
    if len(username) > USERNAME_MAX_LENGTH:
        return f"'{username[:40]}...' is longer than {USERNAME_MAX_LENGTH} characters; use a shorter username."
    try:
        _username_validator(username)
    except ValidationError:
        return f"'{username}' is not a valid username: use letters, digits and @ . + - _ only."
    return None


def _unknown_source_id(source_id: str) -> str:
    message = f"Unknown report '{source_id}': no report has this source_id."
    if source_id[:1] == "'" and source_id[1:2] in csvsafe.FORMULA_PREFIXES:
        return (
            f"{message} It starts with ' as the CSV export writes a value a spreadsheet would run as a formula; "
            f"use the source_id without the leading ' ({source_id[1:]!r}), as in the JSONL export, which keeps "
            "every value as stored."
        )
    return f"{message} Import the report first or correct the source_id."


def _nul_errors(row: RawLabelRow, fields: tuple[str, ...]) -> list[LineError]:
    """A NUL character in any of ``fields`` of ``row`` (nothing else about the row is checked then)."""
    return [
        LineError(row.line, name, f"The {name} contains a NUL character (\\0), which cannot be stored; remove it.")
        for name in fields
        if "\x00" in getattr(row, name)
    ]


def _report_and_annotator_errors(row: RawLabelRow, known_source_ids) -> list[LineError]:
    """The row's source_id must name a known report, and its annotator (if any) be a valid username."""
    line_errors = []
    if not row.source_id:
        line_errors.append(LineError(row.line, "source_id", "The source_id is empty; give the report's source_id."))
    elif row.source_id not in known_source_ids:
        line_errors.append(LineError(row.line, "source_id", _unknown_source_id(row.source_id)))
    if row.annotator:
        problem = _username_error(row.annotator)
        if problem:
            line_errors.append(LineError(row.line, "annotator", problem))
    return line_errors


class LabelRowChecker:
    """Checks one row at a time against the codebook, with what it has worked out once kept:
    a million-line file names a few dimensions, values and annotators over and over."""

    def __init__(self, codebook: CodebookLookup):
        self.codebook = codebook
        self._dimensions: dict[str, tuple[Dimension, CategoryIndex] | None] = {}
        self._values: dict[tuple[str, str], str | ValueError] = {}

    def _dimension(self, token: str) -> tuple[Dimension, CategoryIndex] | None:
        try:
            return self._dimensions[token]
        except KeyError:
            found = self._dimensions[token] = self.codebook.find(token)
            return found

    def _value(self, dimension: Dimension, index: CategoryIndex, raw: str) -> str | ValueError:
        key = (dimension.code, raw)
        try:
            return self._values[key]
        except KeyError:
            pass
        try:
            value = canonical_value(dimension, raw, index)
        except ValueError as exc:
            value = exc
        if len(self._values) < 100_000:  # free text can be new on every line: keep the cache small
            self._values[key] = value
        return value

    def check(self, row: RawLabelRow, known_source_ids: Container[str]) -> tuple[LabelRow | None, list[LineError]]:
        """The canonical row, or None and the row's problems (every problem of the line)."""
        if (
            "\x00" in row.source_id
            or "\x00" in row.annotator
            or "\x00" in row.dimension
            or "\x00" in row.value
            or "\x00" in row.note
        ):
            return None, _nul_errors(row, ("source_id", "annotator", "dimension", "value", "note"))
        if (
            row.source_id
            and row.source_id in known_source_ids
            and (not row.annotator or _username_error(row.annotator) is None)
        ):
            line_errors = []
        else:
            line_errors = _report_and_annotator_errors(row, known_source_ids)
        found = self._dimension(row.dimension) if row.dimension else None
        value = None
        if found is None:
            what = f"Unknown dimension '{row.dimension}'" if row.dimension else "The dimension is empty"
            line_errors.append(
                LineError(
                    row.line, "dimension", f"{what}; use one of this study's dimensions: {self.codebook.codes_hint()}."
                )
            )
        else:
            dimension, index = found
            value = self._value(dimension, index, row.value)
            if isinstance(value, ValueError):
                line_errors.append(LineError(row.line, "value", str(value)))
            elif not value and not row.annotator:
                line_errors.append(
                    LineError(
                        row.line,
                        "value",
                        "A final label (empty annotator) needs a value; give one or drop the line.",
                    )
                )
        if line_errors:
            return None, line_errors
        return LabelRow(row.line, row.source_id, row.annotator, dimension.code, value, row.note), line_errors


def conflict_error(first: LabelRow, label: LabelRow) -> LineError | None:
    """The error for ``label``, a later line with the same report, annotator and dimension as
    ``first``, or None when it says the same (an identical repeat, dropped)."""
    if (first.value, first.note) == (label.value, label.note):
        return None
    who = f"annotator '{label.annotator}'" if label.annotator else "the final label"
    field, first_text, this_text = (
        ("value", first.value, label.value) if first.value != label.value else ("note", first.note, label.note)
    )
    return LineError(
        label.line,
        field,
        f"Conflicts with line {first.line}: {who} of '{label.source_id}' on '{label.dimension}' is "
        f"'{first_text}' there and '{this_text}' here. Keep one of the two lines.",
    )


def validate_label_rows(
    rows: Iterable[RawLabelRow], *, codebook: CodebookLookup, known_source_ids: Container[str]
) -> tuple[list[LabelRow], list[LineError]]:
    """Check every row; return the canonical rows (duplicates of an identical row dropped) and all problems."""
    checked: list[LabelRow] = []
    errors: list[LineError] = []
    seen: dict[tuple[str, str, str], LabelRow] = {}
    checker = LabelRowChecker(codebook)
    for row in rows:
        label, line_errors = checker.check(row, known_source_ids)
        if label is None:
            errors += line_errors
            continue
        key = (label.source_id, label.annotator, label.dimension)
        first = seen.get(key)
        if first is None:
            seen[key] = label
            checked.append(label)
        else:
            conflict = conflict_error(first, label)
            if conflict:
                errors.append(conflict)
    return checked, errors


class AnnotatorLines:
    """The lines naming each well-formed annotator username, as ``annotator_errors`` needs them:
    the first few and how many (a million-line file names three annotators on every line)."""

    KEPT = 6

    def __init__(self):
        self.lines: dict[str, list[int]] = {}
        self.counts: dict[str, int] = {}

    def add(self, row: RawLabelRow) -> None:
        name = row.annotator
        if not name:
            return
        kept = self.lines.get(name)
        if kept is None:
            if _username_error(name) is not None:
                return
            self.lines[name] = [row.line]
            self.counts[name] = 1
            return
        self.counts[name] += 1
        if len(kept) < self.KEPT:
            kept.append(row.line)


def annotator_lines(rows: Iterable[RawLabelRow]) -> dict[str, list[int]]:
    """{username: the lines naming it}, for the annotator lines whose username is well formed
    (a malformed one is reported by validate_label_rows)."""
    lines: dict[str, list[int]] = {}
    for row in rows:
        if row.annotator and _username_error(row.annotator) is None:
            lines.setdefault(row.annotator, []).append(row.line)
    return lines


def _also(lines: list[int], shown: int = 5, total: int | None = None) -> str:
    """' (also on lines 7, 9)' when a username is on more lines than the first one (``total``
    lines in all when ``lines`` holds only the first few of them)."""
    others = lines[1:]
    if not others:
        return ""
    listed = ", ".join(str(n) for n in others[:shown])
    n_others = (total if total is not None else len(lines)) - 1
    more = f" and {n_others - shown} more" if n_others > shown else ""
    return f" (also on line{'s' if len(others) > 1 else ''} {listed}{more})"


def annotator_errors(
    lines: Mapping[str, list[int]],
    *,
    roles: Mapping[str, str],
    existing: Container[str],
    create_missing: bool,
    how_to_add: str,
    counts: Mapping[str, int] | None = None,
) -> list[LineError]:
    """One error per username in the file that may not receive labels, on the first line naming it.

    ``roles`` maps the usernames that are members of the study to their role, ``existing`` holds
    the usernames that have an account. Only members with the role "annotator" may receive labels;
    a username without an account is allowed only with ``create_missing`` (it is then created and
    made an annotator). ``how_to_add`` tells how to make someone an annotator of the study.
    ``counts``: how many lines name each username, when ``lines`` holds only the first few
    (``AnnotatorLines``).
    """
    errors: list[LineError] = []
    for name in sorted(lines, key=lambda n: (lines[n][0], n)):
        also = _also(lines[name], total=counts.get(name) if counts else None)
        role = roles.get(name)
        if role == Membership.Role.ANNOTATOR:
            continue
        if role is not None:
            message = (
                f"'{name}'{also} is a{'n' if role[0] in 'aeiou' else ''} {role} of this study, not an "
                f"annotator; labels are only imported for annotators. Make '{name}' an annotator first "
                f"({how_to_add}), or remove the lines that name them."
            )
        elif name in existing:
            message = (
                f"'{name}'{also} is not a member of this study; labels are only imported for its "
                f"annotators. Add '{name}' as an annotator first ({how_to_add}), then import again."
            )
            if create_missing:
                message += (
                    " Creating annotators only creates accounts that do not exist yet; it never enrols an existing one."
                )
        elif create_missing:
            continue
        else:
            message = (
                f"No account is named '{name}'{also}; labels are only imported for annotators of this study. "
                f"Create the account and add it as an annotator first ({how_to_add}), then import again, or "
                "have a staff user import the file with the create-annotators option "
                "(manage.py import_labels --create-annotators; API: create_annotators=true)."
            )
        errors.append(LineError(lines[name][0], "annotator", message))
    return errors


# --- screening votes -------------------------------------------------------------------------

SCREENING_DIMENSION = "screening"
_SCREENING_VALUES = {"include": "include", "included": "include", "exclude": "exclude", "excluded": "exclude"}


@dataclass(frozen=True, slots=True)
class ScreeningRow:
    """A checked screening line: an annotator's vote, or (empty annotator) a final decision."""

    line: int
    source_id: str
    annotator: str  # "" = the final decision
    decision: str  # "include" or "exclude"
    reason: str = ""

    @property
    def is_final(self) -> bool:
        return not self.annotator


def is_screening_row(row: RawLabelRow) -> bool:
    return row.dimension.strip().lower() == SCREENING_DIMENSION


def validate_screening_rows(
    rows: Iterable[RawLabelRow], *, known_source_ids: Container[str], exclusion_reasons: list[str]
) -> tuple[list[ScreeningRow], list[LineError]]:
    """Check the lines of dimension ``screening`` (a study whose codebook has no dimension of that
    code): value include or exclude, the note the reason, which an exclusion needs and which must be
    one of the study's ``exclusion_reasons``. Returns the rows (an identical repeat dropped) and problems."""
    checked: list[ScreeningRow] = []
    errors: list[LineError] = []
    seen: dict[tuple[str, str], ScreeningRow] = {}
    listed = "; ".join(exclusion_reasons)
    for row in rows:
        line_errors = _nul_errors(row, ("source_id", "annotator", "value", "note"))
        if line_errors:
            errors += line_errors
            continue
        line_errors = _report_and_annotator_errors(row, known_source_ids)
        decision = _SCREENING_VALUES.get(row.value.strip().lower())
        reason = row.note.strip() if decision == "exclude" else ""
        if decision is None:
            line_errors.append(
                LineError(
                    row.line,
                    "value",
                    f"A screening vote is 'include' or 'exclude', not '{row.value.strip()}'; "
                    "put the reason for excluding in the note column.",
                )
            )
        elif decision == "exclude":
            if not exclusion_reasons:
                line_errors.append(
                    LineError(
                        row.line,
                        "note",
                        "This study has no exclusion reasons yet; the owner adds them in the study settings.",
                    )
                )
            elif reason not in exclusion_reasons:
                what = (
                    f"'{reason}' is not one of this study's exclusion reasons" if reason else "Excluding needs a reason"
                )
                line_errors.append(LineError(row.line, "note", f"{what}; put one of these in the note: {listed}."))
        if line_errors:
            errors += line_errors
            continue
        vote = ScreeningRow(row.line, row.source_id, row.annotator, decision, reason)
        key = (vote.source_id, vote.annotator)
        first = seen.get(key)
        if first is None:
            seen[key] = vote
            checked.append(vote)
        elif (first.decision, first.reason) != (vote.decision, vote.reason):
            who = f"annotator '{vote.annotator}'" if vote.annotator else "the final decision"
            errors.append(
                LineError(
                    row.line,
                    "value",
                    f"Conflicts with line {first.line}: {who} on screening '{vote.source_id}' is "
                    f"'{first.decision}' there and '{vote.decision}' here. Keep one of the two lines.",
                )
            )
    return checked, errors
