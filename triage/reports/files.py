"""Report files (JSON Lines or CSV) read into validated, normalised rows.

A plain pipeline, tested without the ORM or Celery:

    ReportFile(source, fmt=None)      opens a path or a file object, checks size and format
      .check()  -> CheckResult        pass 1: every line validated, duplicates found, nothing kept
      .rows()   -> Iterator[ReportRow] pass 2: the same lines again, normalised, for writing

Reading the file twice keeps memory flat (a 100,000-line file never sits in memory) while
still checking the WHOLE file before anything is written. File-level problems (empty,
not UTF-8, no CSV header, too big, unknown format) raise ``ApplicationError``; line
problems are collected as ``Problem(line, field, message)``.

Record fields: source_id (required, unique), kind (issue|crash, default issue), framework
(required, stored lower case), title (required), body, url (empty or http/https), state,
created_at / closed_at (ISO 8601; a date alone is 00:00 UTC, naive times are UTC), labels
(a JSON list of strings in JSONL, ``;``-separated in CSV). Any other field is kept in ``raw``
(the named fields have columns of their own, so the body is not stored twice).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, NamedTuple

from django.core.files import File

from config import csvsafe, jsontext
from config.errors import ApplicationError

FORMATS = ("jsonl", "csv")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
KINDS = ("issue", "crash")
FIELDS = ("source_id", "kind", "framework", "title", "body", "url", "state", "created_at", "closed_at", "labels")
REQUIRED = ("source_id", "framework", "title")
MAX_LENGTHS = {"source_id": 255, "framework": 32, "title": 1000, "url": 1000, "state": 32}
MAX_LABEL_LENGTH = 200
EXAMPLE_JSONL = (
    '{"source_id": "github:pytorch/pytorch#1234", "kind": "issue", "framework": "pytorch", '
    '"title": "conv2d gives wrong shape", "body": "Steps to reproduce...", '
    '"url": "https://github.com/pytorch/pytorch/issues/1234", "state": "closed", '
    '"created_at": "2023-05-01T10:00:00Z", "closed_at": "2023-05-03", "labels": ["bug", "module: nn"]}'
)
EXAMPLE_CSV_HEADER = "source_id,kind,framework,title,body,url,state,created_at,closed_at,labels"

# http(s)://host[:port][/path][?query][#fragment] with no whitespace or control characters.
_WEB_URL = re.compile(r"https?://[^\s/?#\\]+(?:[/?#][^\s]*)?", re.IGNORECASE)
# JSON escapes that decode to text PostgreSQL cannot store (NUL, lone surrogates).
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one line (``line`` None: the file as a whole)."""

    line: int | None
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        what = f"field '{self.field}': " if self.field else ""
        return f"{where}{what}{self.message}"


class ReportRow(NamedTuple):
    """A record after validation: every value in the form it is stored in."""

    source_id: str
    kind: str
    framework: str
    title: str
    body: str
    url: str
    state: str
    created_at: datetime | None
    closed_at: datetime | None
    labels: tuple[str, ...]
    raw: dict
    content_hash: str


@dataclass
class CheckResult:
    """What pass 1 found: how many reports, and the problems (listed up to a cap)."""

    total: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


def format_for(name: str | None, fmt: str | None) -> str:
    """The file format: ``fmt`` when given, else from the name's extension."""
    if fmt:
        fmt = fmt.strip().lower()
        if fmt == "ndjson":
            fmt = "jsonl"
        if fmt not in FORMATS:
            raise ApplicationError(f"Unknown format '{fmt}': use 'jsonl' (one JSON object per line) or 'csv'.")
        return fmt
    ext = Path(name or "").suffix.lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    shown = f"'{Path(name).name}'" if name else "The file"
    raise ApplicationError(
        f"{shown} does not say its format: name it .jsonl, .ndjson, .json (JSON Lines) or .csv, "
        "or choose the format explicitly."
    )


def parse_when(value: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime. ValueError when it is not one.

    A date alone means 00:00 UTC (or the last microsecond of that day with ``end_of_day``);
    a date-time without an offset is taken as UTC.
    """
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
        if end_of_day and len(value.strip()) <= 10:
            when += timedelta(days=1, microseconds=-1)
        return when
    return when.astimezone(UTC)


def content_hash(row_values: tuple, extras: dict) -> str:
    """sha256 of the normalised fields and any extra fields, so re-imports detect changes."""
    parts = [
        ""
        if v is None
        else (v.isoformat() if isinstance(v, datetime) else ("\x1f".join(v) if isinstance(v, tuple) else v))
        for v in row_values
    ]
    parts.append(json.dumps(extras, sort_keys=True, ensure_ascii=False, default=str) if extras else "")
    return hashlib.sha256("\x1e".join(parts).encode("utf-8")).hexdigest()


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _unstorable(value, path: str) -> Iterator[tuple[str, str]]:
    """(field, message) for every string in ``value`` the database cannot store."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path, "contains a NUL character (\\u0000), which cannot be stored; remove it"
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                yield path, "contains an unpaired surrogate escape (\\ud800-\\udfff); fix the text encoding"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unstorable(key, path)
            yield from _unstorable(item, path)
    elif isinstance(value, list):
        for item in value:
            yield from _unstorable(item, path)


def normalise_record(record: dict, line: int, *, csv_labels: bool, suspect: bool = False, with_hash: bool = True):
    """Validate one record. Returns ``(ReportRow, [])`` or ``(None, [Problem, ...])``.

    ``suspect``: the line may hold text the database cannot store (NUL, lone surrogates), so
    every string is checked. ``with_hash=False`` leaves ``content_hash`` empty (pass 1).
    """
    problems: list[Problem] = []

    if suspect:
        seen_fields = set()
        for key, value in record.items():
            for fld, message in _unstorable(value, key):
                if fld not in seen_fields:
                    seen_fields.add(fld)
                    problems.append(Problem(line, fld, message))
            for _fld, message in _unstorable(key, key):
                problems.append(Problem(line, "", f"a field name {message}"))

    def text(name: str, *, strip: bool = True) -> str:
        value = record.get(name)
        if value is None:
            value = ""
        elif not isinstance(value, str):
            problems.append(Problem(line, name, f"must be text, not {_type_name(value)}"))
            return ""
        elif strip:
            value = value.strip()
        limit = MAX_LENGTHS.get(name)
        if limit and len(value) > limit:
            problems.append(Problem(line, name, f"is {len(value)} characters long; the limit is {limit}"))
        return value

    source_id = text("source_id")
    if not source_id and "source_id" not in {p.field for p in problems}:
        problems.append(
            Problem(
                line, "source_id", "is required: give each report a stable unique id, e.g. github:pytorch/pytorch#1234"
            )
        )
    kind = text("kind").lower() or "issue"
    if kind not in KINDS:
        problems.append(Problem(line, "kind", f"must be 'issue' or 'crash', not {kind[:40]!r}"))
    framework = text("framework").lower()
    if not framework and "framework" not in {p.field for p in problems}:
        problems.append(Problem(line, "framework", "is required, e.g. pytorch, tensorflow, keras, mxnet, jax"))
    title = text("title")
    if not title and "title" not in {p.field for p in problems}:
        problems.append(Problem(line, "title", "is required: a one-line summary of the report"))
    body = text("body", strip=False)
    url = text("url")
    if url:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in ("http", "https"):
            shown = f"the scheme '{scheme}:'" if scheme else "no scheme"
            problems.append(
                Problem(line, "url", f"has {shown}; only http:// and https:// links are allowed (or leave it empty)")
            )
        else:
            if not _WEB_URL.fullmatch(url):
                problems.append(Problem(line, "url", f"is not a valid web address: {url[:80]!r}"))
    state = text("state")
    created_at = _when(record, "created_at", line, problems)
    closed_at = _when(record, "closed_at", line, problems)
    if created_at and closed_at and closed_at < created_at:
        problems.append(
            Problem(
                line,
                "closed_at",
                f"({closed_at.isoformat()}) is before created_at ({created_at.isoformat()}); check the two dates",
            )
        )
    labels = _labels(record.get("labels"), line, problems, csv_labels=csv_labels)

    if problems:
        return None, problems
    values = (source_id, kind, framework, title, body, url, state, created_at, closed_at, labels)
    extras = {k: v for k, v in record.items() if k not in FIELDS}
    if not with_hash:
        return ReportRow(*values, extras, ""), problems
    return ReportRow(*values, extras, content_hash(values, extras)), problems


def _when(record: dict, name: str, line: int, problems: list[Problem]) -> datetime | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem(line, name, f"must be an ISO 8601 date written as text, not {_type_name(value)}"))
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return parse_when(value)
    except ValueError:
        problems.append(
            Problem(
                line, name, f"is not an ISO 8601 date ({value[:40]!r}); write e.g. 2024-03-01 or 2024-03-01T12:30:00Z"
            )
        )
        return None


def _labels(value, line: int, problems: list[Problem], *, csv_labels: bool) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if csv_labels:
        items = value.split(";")
    elif isinstance(value, list):
        items = value
        if not all(isinstance(item, str) for item in items):
            problems.append(Problem(line, "labels", 'must be a list of strings, e.g. ["bug", "comp:ops"]'))
            return ()
    else:
        problems.append(
            Problem(
                line, "labels", f'must be a JSON list of strings, e.g. ["bug", "comp:ops"], not {_type_name(value)}'
            )
        )
        return ()
    names = {item.strip() for item in items} - {""}
    too_long = [name for name in names if len(name) > MAX_LABEL_LENGTH]
    if too_long:
        problems.append(
            Problem(line, "labels", f"label {too_long[0][:40]!r}... is longer than {MAX_LABEL_LENGTH} characters")
        )
        return ()
    return tuple(sorted(names))


# -- reading -------------------------------------------------------------------------------


class ReportFile:
    """A report file opened for reading twice (check, then write).

    ``source`` is a path or a file object (binary, or text for tests). A file object that
    cannot seek is first copied to a temporary file.
    """

    def __init__(self, source: str | os.PathLike | IO, *, fmt: str | None = None, max_bytes: int | None = None):
        self._temp: IO | None = None
        self._path: Path | None = None
        self._file: IO | None = None
        if isinstance(source, str | os.PathLike):
            self._path = Path(source)
            name = self._path.name
            if not self._path.is_file():
                raise ApplicationError(f"There is no file at {self._path}: check the path.")
            size = self._path.stat().st_size
        else:
            name = getattr(source, "name", None) or ""
            size = self._attach(source, max_bytes)
        self.name = Path(str(name)).name
        self.fmt = format_for(self.name, fmt)
        if max_bytes is not None and size > max_bytes:
            self.close()
            raise ApplicationError(
                f"The file is {_mb(size)}; the limit is {_mb(max_bytes)}. Split it into smaller files and import each."
            )
        if size == 0:
            self.close()
            raise ApplicationError("The file is empty: it has no reports. Check that you chose the right file.")

    def _attach(self, source: IO, max_bytes: int | None) -> int:
        if isinstance(source, File):  # Django's File proxies: read the real file underneath
            source = source.file
        try:
            seekable = source.seekable()
        except (AttributeError, ValueError):
            seekable = False
        if seekable:
            self._file = source
            self._start = source.tell()
            size = source.seek(0, os.SEEK_END) - self._start
            source.seek(self._start)
            return size
        temp = tempfile.TemporaryFile()
        limit = (max_bytes or 0) + 1
        copied = 0
        while chunk := source.read(1024 * 1024):
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8")
            temp.write(chunk)
            copied += len(chunk)
            if max_bytes is not None and copied >= limit:
                break
        temp.seek(0)
        self._temp = self._file = temp
        self._start = 0
        return copied

    def close(self):
        if self._temp is not None:
            self._temp.close()
            self._temp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # pass 1 ----------------------------------------------------------------------------

    def check(self, *, max_listed: int = 200) -> CheckResult:
        """Validate every record, find duplicate source_ids; keep only the problems."""
        result = CheckResult()
        first_line: dict[str, int] = {}

        def add(problem: Problem):
            result.problem_count += 1
            if len(result.problems) < max_listed:
                result.problems.append(problem)

        for line, record, problem, suspect in self._records():
            if problem is not None:
                add(problem)
                continue
            row, problems = normalise_record(
                record, line, csv_labels=self.fmt == "csv", suspect=suspect, with_hash=False
            )
            for p in problems:
                add(p)
            source_id = row.source_id if row else record.get("source_id")
            if isinstance(source_id, str):
                source_id = source_id.strip()
                if source_id in first_line:
                    add(
                        Problem(
                            line,
                            "source_id",
                            f"{source_id[:80]!r} already appears on line {first_line[source_id]}; "
                            "each report must appear once in a file",
                        )
                    )
                elif source_id:
                    first_line[source_id] = line
            if row is not None:
                result.total += 1
        if result.total == 0 and result.problem_count == 0:
            raise ApplicationError(
                "The file has no reports: it holds only blank lines or a header. Check that you chose the right file."
            )
        return result

    # pass 2 ----------------------------------------------------------------------------

    def rows(self) -> Iterator[ReportRow]:
        """The normalised rows of a file that ``check()`` found valid."""
        for line, record, problem, suspect in self._records():
            row, problems = (
                (None, [problem])
                if problem
                else normalise_record(record, line, csv_labels=self.fmt == "csv", suspect=suspect)
            )
            if row is None:
                raise ApplicationError(
                    f"The file changed while it was being imported ({problems[0]}); nothing was written. "
                    "Import it again."
                )
            yield row

    # reading ---------------------------------------------------------------------------

    def _records(self) -> Iterator[tuple[int, dict | None, Problem | None, bool]]:
        """(line, record, problem, suspect) for every non-blank record of the file."""
        lines = self._lines()
        if self.fmt == "jsonl":
            yield from _jsonl_records(lines)
        else:
            yield from _csv_records(lines)

    def _lines(self) -> Iterator[tuple[int, str]]:
        """(line number, text) of each physical line, decoded strictly as UTF-8."""
        if self._path is not None:
            with self._path.open("rb") as handle:
                yield from _decoded(handle)
            return
        self._file.seek(self._start)
        if isinstance(self._file.read(0), str):  # a text stream (tests, StringIO)
            yield from enumerate(self._file, 1)
            return
        yield from _decoded(self._file)


def _decoded(handle) -> Iterator[tuple[int, str]]:
    number = 0
    for number, raw in enumerate(handle, 1):  # noqa: B007 - number is read after the loop
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApplicationError(
                f"The file is not UTF-8 text: line {number} has a byte ({raw[exc.start]:#04x}) that is not "
                "valid UTF-8. Save the file with UTF-8 encoding and import it again."
            ) from None


def _jsonl_records(lines: Iterator[tuple[int, str]]):
    for line, text in lines:
        if not text.strip():
            continue
        try:
            record = jsontext.loads(text)
        except json.JSONDecodeError as exc:
            hint = (
                " (the file looks like one JSON array: write one JSON object per line instead)"
                if line == 1 and text.lstrip().startswith("[")
                else ""
            )
            yield line, None, Problem(line, "", f"is not valid JSON: {exc.msg} at column {exc.colno}{hint}"), False
            continue
        if not isinstance(record, dict):
            yield (
                line,
                None,
                Problem(line, "", f'must be a JSON object like {{"source_id": ...}}, not {_type_name(record)}'),
                False,
            )
            continue
        yield line, record, None, "\\u" in text and _SUSPECT_ESCAPE.search(text) is not None


def _csv_records(lines: Iterator[tuple[int, str]]):
    csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
    texts = _CountingLines(lines)
    reader = csvsafe.reader(texts)  # strict: an unterminated quote is an error, not the rest of the file
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
    except csvsafe.CsvSyntaxError as exc:
        raise ApplicationError(f"The CSV header (line {exc.line}) cannot be read: {exc}.") from None
    if header is None:
        raise ApplicationError("The file is empty: it has no reports. Check that you chose the right file.")
    header = [cell.strip() for cell in header]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        if not set(header) & set(FIELDS):
            raise ApplicationError(
                "The CSV file has no header row: its first line must name the columns, e.g. "
                f"{EXAMPLE_CSV_HEADER} (source_id, framework and title are required)."
            )
        raise ApplicationError(
            f"The CSV header lacks the required column(s) {', '.join(missing)}. "
            f"Name the columns in the first line, e.g. {EXAMPLE_CSV_HEADER}."
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise ApplicationError(f"The CSV header names column(s) {', '.join(map(repr, duplicated))} more than once.")
    if "" in header:
        raise ApplicationError(
            f"The CSV header has an unnamed column (column {header.index('') + 1}); name it or remove it."
        )
    width = len(header)
    end = texts.number
    while True:
        start = end + 1
        try:
            row = next(reader, None)
        except csvsafe.CsvSyntaxError as exc:
            yield (
                exc.line,
                None,
                Problem(exc.line, "", f"cannot be read as CSV: {exc}; the rest of the file was not checked"),
                False,
            )
            return
        if row is None:
            return
        end = texts.number
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) > width:
            yield (
                start,
                None,
                Problem(
                    start,
                    "",
                    f"has {len(row)} values but the header names {width} columns; quote values that contain commas",
                ),
                False,
            )
            continue
        record = dict(zip(header, row, strict=False))
        yield start, record, None, any("\x00" in cell for cell in row)


class _CountingLines:
    """Feeds lines to csv.reader and remembers the last physical line number read."""

    def __init__(self, lines: Iterator[tuple[int, str]]):
        self._lines = lines
        self.number = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        self.number, text = next(self._lines)
        return text


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
