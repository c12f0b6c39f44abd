"""config/csvsafe.py: spreadsheet-safe cells for every CSV written."""

import io
from decimal import Decimal

import pytest

from config import csvsafe
from config.csvsafe import safe_cell

# ---- writing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "=cmd|' /C calc'!A0",
        '=HYPERLINK("http://x")',
        "+SUM(A1:A9)",
        "-2+3",
        "-1",
        "@SUM(1+1)",
        "\t=1+1",
        "\r=1+1",
        "\0=1+1",
        "\uff1d1+1",  # fullwidth equals sign
        "\uff0b1",
        "\uff0d1",
        "\uff20SUM(1)",
    ],
)
def test_text_that_a_spreadsheet_would_run_gets_a_leading_quote(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["", "a=b", " =1+1", "github:pytorch/pytorch#1", "'=already", "ünï-code", "1-2"])
def test_other_text_is_left_alone(text):
    assert safe_cell(text) == text


@pytest.mark.parametrize("number", [-1.5, -1, 0, 3, Decimal("-2.25"), None])
def test_numbers_and_none_are_never_altered(number):
    assert safe_cell(number) is number


def test_the_writer_neutralises_every_text_cell_and_keeps_numbers_numeric():
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(["=a", "b"])
    w.writerows([["+x", -1.5, None, "-1"], ["@y", -3, "plain", 'a "quoted", value']])
    assert out.getvalue().splitlines() == [
        "'=a,b",
        "'+x,-1.5,,'-1",
        '\'@y,-3,plain,"a ""quoted"", value"',
    ]
