"""CSV done safely, for every app: cells a spreadsheet cannot run.

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

"""

from __future__ import annotations

import csv
from collections.abc import Iterable

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
