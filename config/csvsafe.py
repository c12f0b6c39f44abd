"""CSV done safely, for every app: cells a spreadsheet cannot run, files read strictly.

Writing: every CSV the app produces goes through :func:`writer` (or :func:`safe_cell` for one
value), so a text cell is neutralised the same way in study exports, survey results and chart
data. Following OWASP's "CSV Injection" guidance (and ASVS 5.0, requirement 1.2.10), a text
cell whose first character is ``=``, ``+``, ``-``, ``@``, a tab (0x09), a carriage return
(0x0D) or NUL (0x00) gets a leading single quote (``'``), so Excel, LibreOffice and Google
Sheets show it as text instead of evaluating it as a formula. The fullwidth forms of the four
signs (``＝ ＋ － ＠``, U+FF1D, U+FF0B, U+FF0D, U+FF20) are treated the same way, because
spreadsheets in East Asian locales may read them as the ASCII signs; the quote costs nothing.

Only text is touched. Numbers the exporter writes as numbers (``int``, ``float``, ``Decimal``;
e.g. ``-1.5`` or a count) are written as they are, and ``None`` is an empty cell. A string
that merely looks like a number (a title "-1 is wrong", or "-1") is text and IS quoted: the
exporter, not this module, knows what is a number, and passes numbers as numbers.

The quote is for people opening the file in a spreadsheet. A program that reads the CSV gets
the quoted value; the JSONL (and any other machine format) keeps every value exactly as
stored, and is what scripts should read.

Reading: :func:`reader` is ``csv.reader`` in strict mode, raising :class:`CsvSyntaxError`
with the physical line to fix and how to fix it. Without strict mode, a quoted value whose
closing quote is missing silently swallows the rest of the file into one value; here it is
an error on the line where that quoted value starts.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator

FORMULA_PREFIXES = frozenset("=+-@\t\r\0\uff1d\uff0b\uff0d\uff20")


def safe_cell(value):
    """``value`` with a leading ``'`` when it is text a spreadsheet would read as a formula.

    Anything that is not a ``str`` (numbers, ``None``) is returned unchanged.
    """
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES:
        return "'" + value
    return value


class SafeWriter:
    """A ``csv.writer`` whose rows pass through :func:`safe_cell`, cell by cell."""

    def __init__(self, out, **fmtparams):
        self._writer = csv.writer(out, **fmtparams)

    def writerow(self, row: Iterable):
        return self._writer.writerow(_safe_row(row))

    def writerows(self, rows: Iterable[Iterable]):
        return self._writer.writerows(map(_safe_row, rows))


def _safe_row(row: Iterable) -> list:
    # safe_cell, inlined: exports write millions of cells.
    return [("'" + v if isinstance(v, str) and v[:1] in FORMULA_PREFIXES else v) for v in row]


def writer(out, **fmtparams) -> SafeWriter:
    """``csv.writer(out, **fmtparams)`` with every text cell made spreadsheet-safe."""
    return SafeWriter(out, **fmtparams)


# -- reading ------------------------------------------------------------------------------

QUOTE_HINT = 'write a quote inside a quoted value twice (""), e.g. "a ""quoted"" word"'

# A complete quoted value, possessive so that a value with no closing quote fails at once.
_QUOTED = re.compile(r'"[^"]*+(?:""[^"]*+)*+"')
_UNQUOTED = re.compile(r"[^,\r\n]*+")


class CsvSyntaxError(csv.Error):
    """The file is not valid CSV at physical line ``line`` (1-based); the message says how to fix it."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


class StrictReader:
    """``csv.reader(lines, strict=True)`` that explains its errors as :class:`CsvSyntaxError`.

    ``lines`` are text lines with their line endings (a file opened with ``newline=""``, or
    decoded lines). ``line_num`` is the number of physical lines read so far, as in
    ``csv.reader``. Only the lines of the record being read are kept, to find the line where
    an unterminated quoted value starts.
    """

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self._record: list[str] = []
        self.line_num = 0
        self._reader = csv.reader(self._feed(), strict=True)

    def _feed(self) -> Iterator[str]:
        for text in self._lines:
            self.line_num += 1
            self._record.append(text)
            yield text

    def __iter__(self):
        return self

    def __next__(self) -> list[str]:
        first = self.line_num + 1
        self._record.clear()
        try:
            return next(self._reader)
        except csv.Error as exc:
            raise _explain(str(exc), first, self._record) from None


def reader(lines: Iterable[str]) -> StrictReader:
    """A strict reader of comma-separated, double-quoted CSV (Excel's dialect); see :class:`StrictReader`."""
    return StrictReader(lines)


def _explain(error: str, first: int, record: list[str]) -> CsvSyntaxError:
    """The csv module's ``error`` for the record that starts on line ``first`` and has ``record`` lines."""
    last = first + max(len(record), 1) - 1
    unterminated = error.startswith("unexpected end of data")
    too_long = error.startswith("field larger than field limit")
    if unterminated or too_long:
        line = _open_quote_line(record, first)
        if line is not None:
            if unterminated:
                return CsvSyntaxError(
                    line,
                    "the quoted value that starts on this line has no closing quote, so the rest of the file "
                    f"would be read as part of it; close the quote, and {QUOTE_HINT}",
                )
            return CsvSyntaxError(
                line,
                f"the quoted value that starts on this line is longer than {csv.field_size_limit():,} characters, "
                f"most likely because its closing quote is missing; close the quote, and {QUOTE_HINT}",
            )
        if too_long:
            return CsvSyntaxError(
                last, f"a value is longer than {csv.field_size_limit():,} characters; shorten it or split it"
            )
    if error.startswith("',' expected after '\"'"):
        return CsvSyntaxError(last, f"a quoted value is followed by more text before the next comma; {QUOTE_HINT}")
    return CsvSyntaxError(last, f"{error}; check the quotes and line breaks on this line")


def _open_quote_line(record: list[str], first: int) -> int | None:
    """The line of the quoted value in ``record`` that is never closed (None if all are)."""
    text = "".join(record)
    pos, end = 0, len(text)
    while pos < end:
        if text[pos] == '"':
            match = _QUOTED.match(text, pos)
            if match is None:
                break
            pos = match.end()
        else:
            pos = _UNQUOTED.match(text, pos).end()
        if pos < end and text[pos] == ",":
            pos += 1
            continue
        return None  # the record ended (or the text is not CSV here) without an open quote
    else:
        return None
    line, seen = first, 0
    for physical in record:
        seen += len(physical)
        if seen > pos:
            return line
        line += 1
    return None
