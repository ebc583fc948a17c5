"""The CSV reader: a good file reads back exactly; every hostile one is refused with a message
that names the line, the column and the header."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from interpreter.read.csv_file import CsvError, CsvTable, columns, read_csv

IRIS_HEADER = "sepal_length,sepal_width,petal_length,petal_width,species\n"
NAMES = "sepal_length, sepal_width, petal_length, petal_width, species"


def write(tmp_path, text: str | bytes, name: str = "data.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refused(path, **options) -> str:
    with pytest.raises(CsvError) as caught:
        read_csv(path, **options)
    return str(caught.value)


def test_a_good_file_reads_back_exactly(tmp_path):
    values = np.random.default_rng(0).normal(size=(20, 5))
    values[:, 4] = np.arange(20) % 3
    lines = [",".join(repr(float(v)) for v in row) for row in values]
    path = write(tmp_path, IRIS_HEADER + "\n".join(lines) + "\n")
    table = read_csv(path)
    assert isinstance(table, CsvTable)
    assert table.header == NAMES.split(", ")
    assert table.path == path
    assert table.values.dtype == np.float64 and table.values.shape == (20, 5)
    np.testing.assert_array_equal(table.values, values)


def test_whitespace_quotes_integers_blank_lines_and_a_byte_order_mark_are_fine(tmp_path):
    path = write(tmp_path, "\ufeff x , y\n\n 1 ,\"2.5\"\n-3, +4e-1 \n\n")
    table = read_csv(path)
    assert table.header == ["x", "y"]
    np.testing.assert_array_equal(table.values, [[1.0, 2.5], [-3.0, 0.4]])


def test_another_delimiter(tmp_path):
    table = read_csv(write(tmp_path, "a;b\n1;2\n"), delimiter=";")
    np.testing.assert_array_equal(table.values, [[1.0, 2.0]])
    assert refused(write(tmp_path, "a\n1\n"), delimiter="ab").startswith(
        "the delimiter must be one character")


def test_a_single_column(tmp_path):
    table = read_csv(write(tmp_path, "y\n1\n2\n3\n"))
    assert table.values.shape == (3, 1)


def test_a_large_file_parses(tmp_path):
    values = np.arange(100_000 * 3, dtype=np.float64).reshape(100_000, 3) / 7
    path = tmp_path / "large.csv"
    np.savetxt(path, values, delimiter=",", header="a,b,c", comments="")
    table = read_csv(path)
    assert table.values.shape == (100_000, 3)
    np.testing.assert_allclose(table.values, values, rtol=1e-15)


def test_a_field_that_is_not_a_number_is_named_by_line_and_column(tmp_path):
    rows = ["5.1,3.5,1.4,0.2,0"] * 5 + ["5.1,3.5,1.4,abc,0"]
    message = refused(write(tmp_path, IRIS_HEADER + "\n".join(rows) + "\n"))
    assert message == (f"line 7, column 'petal_width': 'abc' is not a number "
                       f"(header: {NAMES})")


@pytest.mark.parametrize("field, problem", [
    ("", "the field is empty"),
    ("  ", "the field is empty"),
    ("nan", "'nan' is not a finite number"),
    ("-inf", "'-inf' is not a finite number"),
    ("1e999", "'1e999' is not a finite number"),
])
def test_empty_and_non_finite_fields_are_refused(tmp_path, field, problem):
    message = refused(write(tmp_path, f"a,b\n1,2\n3,{field}\n"))
    assert message.startswith(f"line 3, column 'b': {problem}")
    assert message.endswith("(header: a, b)")


def test_a_long_field_is_shortened_in_the_message(tmp_path):
    message = refused(write(tmp_path, "a\n" + "x" * 1000 + "\n"))
    assert "'" + "x" * 40 + "...' is not a number" in message
    assert len(message) < 200


def test_a_row_with_the_wrong_number_of_fields(tmp_path):
    rows = ["5.1,3.5,1.4,0.2,0"] * 10 + ["5.1,3.5,1.4,0.2"]
    message = refused(write(tmp_path, IRIS_HEADER + "\n".join(rows) + "\n"))
    assert message == f"line 12 has 4 fields, but the header has 5 ({NAMES})"


def test_a_long_header_is_shortened_in_messages(tmp_path):
    header = ",".join(f"column_{i}" for i in range(30))
    message = refused(write(tmp_path, header + "\n1,2\n"))
    assert message == ("line 2 has 2 fields, but the header has 30 (column_0, column_1, "
                       "column_2, column_3, column_4, column_5, column_6, column_7, ... "
                       "(30 columns))")


def test_a_header_is_required(tmp_path):
    message = refused(write(tmp_path, "1,2\n3,4\n"))
    assert message == ("line 1, the first line, holds numbers (1, 2); a CSV data file starts "
                       "with a header row naming its columns")


def test_header_names_must_be_unique_and_not_empty(tmp_path):
    assert refused(write(tmp_path, "a,,c\n1,2,3\n")) == (
        "line 1: the header's column 2 has no name (header: a, , c)")
    assert refused(write(tmp_path, "a,b,a\n1,2,3\n")) == (
        "line 1: the header names column 'a' twice (columns 1 and 3)")


def test_a_header_without_rows(tmp_path):
    assert refused(write(tmp_path, "a,b\n\n")) == "has a header (a, b) but no rows"


@pytest.mark.parametrize("text", ["", "\n\n  \n", "\ufeff"])
def test_an_empty_file(tmp_path, text):
    assert refused(write(tmp_path, text)) == "is empty"


def test_a_missing_file_and_a_directory(tmp_path):
    assert refused(tmp_path / "absent.csv") == "no such file"
    assert refused(tmp_path) == "is a directory, not a file"


def test_an_unreadable_file(tmp_path, monkeypatch):
    # Permissions do not bind for root, so the refusal is simulated where the file is opened.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("interpreter.read.csv_file.open_for_reading", refuse)
    assert refused(write(tmp_path, "a\n1\n")) == "Permission denied"


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    message = refused(write(tmp_path, b"name,value\n1,2\n3,\xe94\n"))
    assert message == "line 3 is not UTF-8 text (byte 0xe9); save the file as UTF-8"


def test_a_pickle_is_not_a_csv_file(tmp_path):
    path = write(tmp_path, pickle.dumps({"X": [1, 2, 3]}))
    assert refused(path) == "is not a text CSV file (it starts like a Python pickle)"


def test_nul_bytes_are_not_a_csv_file(tmp_path):
    path = write(tmp_path, b"a,b\n1,2\n\x00\x00\x01\x02")
    assert refused(path) == "is not a text CSV file (line 3 holds a NUL byte)"


def test_a_file_over_the_budget_is_refused_before_reading(tmp_path):
    path = write(tmp_path, "a\n" + "1\n" * 1000)
    assert refused(path, max_bytes=1000) == (
        "is 0.00191 MiB, more than the 0.000954 MiB a CSV file may be (save large data as "
        ".npz)")


def test_an_unterminated_quote_names_its_line(tmp_path):
    message = refused(write(tmp_path, 'a,b\n1,2\n"3,4\n'))
    assert message.startswith("line ")
    assert "unexpected end of data" in message


# columns: selecting by name


def table_of(tmp_path) -> CsvTable:
    return read_csv(write(tmp_path, IRIS_HEADER + "5.1,3.5,1.4,0.2,0\n6.2,2.9,4.3,1.3,1\n"))


def test_columns_by_name(tmp_path):
    table = table_of(tmp_path)
    features = columns(table, ["petal_length", "sepal_length"])
    np.testing.assert_array_equal(features, [[1.4, 5.1], [4.3, 6.2]])
    species = columns(table, "species")
    assert species.shape == (2,)
    np.testing.assert_array_equal(species, [0, 1])


def test_an_unknown_column_lists_the_header_and_suggests(tmp_path):
    with pytest.raises(CsvError) as caught:
        columns(table_of(tmp_path), ["speceis"])
    assert str(caught.value) == ("there is no column 'speceis' (did you mean "
                                 f"'species'?) (header: {NAMES})")


def test_columns_named_twice_or_not_at_all(tmp_path):
    table = table_of(tmp_path)
    with pytest.raises(CsvError, match="column 'species' is named more than once"):
        columns(table, ["species", "species"])
    with pytest.raises(CsvError, match="no columns were named"):
        columns(table, [])
