"""config/csvsafe.py: spreadsheet-safe cells for every CSV written, strict reading for every CSV read."""

import csv
import io
from decimal import Decimal

import pytest

from config import csvsafe
from config.csvsafe import CsvSyntaxError, safe_cell

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


# ---- reading ----------------------------------------------------------------------------


def read(text: str) -> list[list[str]]:
    return list(csvsafe.reader(io.StringIO(text, newline="")))


TEN_LINES = 'a,b\n1,2\n3,"never closed\n4,5\n5,6\n6,7\n7,8\n8,9\n9,10\n10,11\n'


def test_an_unterminated_quote_is_an_error_on_the_line_where_the_quoted_value_starts():
    assert len(TEN_LINES.splitlines()) == 10
    with pytest.raises(CsvSyntaxError) as caught:
        read(TEN_LINES)
    assert caught.value.line == 3
    assert "no closing quote" in caught.value.message
    assert 'close the quote, and write a quote inside a quoted value twice ("")' in caught.value.message
    assert isinstance(caught.value, csv.Error)  # callers that catch csv.Error keep working


def test_the_plain_csv_module_would_have_swallowed_the_rest_of_the_file():
    """What the strict reader prevents: the non-strict default reads the file "fine"."""
    rows = list(csv.reader(io.StringIO(TEN_LINES, newline="")))
    assert len(rows) == 3 and rows[2][1].startswith("never closed\n4,5\n")


def test_the_open_quote_is_found_after_a_legal_multi_line_value_in_the_same_record():
    text = 'a,b,c\n1,"two\nlines","never\nclosed\n2,3,4\n'
    with pytest.raises(CsvSyntaxError) as caught:
        read(text)
    assert caught.value.line == 3


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_legal_multi_line_quoted_values_and_doubled_quotes_are_read(ending):
    text = ending.join(["a,b", '1,"line one', 'line two"', '2,"say ""hi"", then, go"', '3,x"y', ""])
    assert read(text) == [
        ["a", "b"],
        ["1", f"line one{ending}line two"],
        ["2", 'say "hi", then, go'],
        ["3", 'x"y'],
    ]


def test_text_after_a_closing_quote_is_an_error_on_its_line():
    with pytest.raises(CsvSyntaxError) as caught:
        read('a,b\n1,2\n3,"quoted" and more\n4,5\n')
    assert caught.value.line == 3
    assert "followed by more text" in caught.value.message and '""' in caught.value.message


def test_line_num_counts_physical_lines():
    reader = csvsafe.reader(io.StringIO('a,b\n1,"x\ny"\n2,3\n', newline=""))
    assert next(reader) == ["a", "b"] and reader.line_num == 1
    assert next(reader) == ["1", "x\ny"] and reader.line_num == 3
    assert next(reader) == ["2", "3"] and reader.line_num == 4


@pytest.fixture
def small_field_limit():
    previous = csv.field_size_limit(20)
    yield
    csv.field_size_limit(previous)


def test_a_value_over_the_field_limit_names_the_line_its_quote_opened(small_field_limit):
    with pytest.raises(CsvSyntaxError) as caught:
        read('a,b\n1,2\n3,"open\n' + "x" * 30 + "\n4,5\n")
    assert caught.value.line == 3
    assert "longer than 20 characters" in caught.value.message and "closing quote" in caught.value.message
    with pytest.raises(CsvSyntaxError) as caught:
        read("a,b\n1,2\n3," + "x" * 30 + "\n")
    assert caught.value.line == 3 and "shorten it" in caught.value.message
