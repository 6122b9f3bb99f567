"""matchq.formats.preview: columns, first rows, format, encoding and delimiter of a file
from its first bytes (GET /files/{file_id}), agreeing with the worker's read_table."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import openpyxl
import pytest

from matchq.api.schemas import FileView
from matchq.errors import InputFileError
from matchq.formats import (
    DELIMITERS,
    ENCODING_NAMES,
    FORMAT_NAMES,
    PREVIEW_CHARS,
    NeedsWholeFile,
    Table,
    delimited,
    preview,
    read_table,
)
from tests.support import ROOT

CP1252 = "Windows-1252"
ROWS = [["Ann Lee", "Springfield", "007"], ["Bob", "", "12"], ["Čeněk", "Zürich", "1.50"]]
HEADER = ["name", "city", "zip"]


def delimited_text(delimiter: str = ",", rows: list[list[str]] = ROWS) -> str:
    return "".join(delimiter.join(row) + "\r\n" for row in [HEADER, *rows])


def expected(rows: list[list[str]] = ROWS) -> list[dict[str, str | None]]:
    return [{col: value or None for col, value in zip(HEADER, row, strict=True)} for row in rows]


def first_rows(table: Table, n: int = 10) -> list[dict[str, str | None]]:
    count = min(n, table.nrows)
    return [{col: table.columns[col][i] for col in table.header} for i in range(count)]


def make_xlsx(rows: list[list[object]], path: Path) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path.read_bytes()


@pytest.fixture(params=["csv module", "pandas"])
def text_reader(request: pytest.FixtureRequest) -> Iterator[None]:
    """read_table's delimited text read by the csv module and by pandas' C parser."""
    fast_min = 0 if request.param == "pandas" else 10**18
    with mock.patch.object(delimited, "FAST_MIN_BYTES", fast_min):
        yield


# ----------------------------------------------------------------------------- delimited


@pytest.mark.parametrize("delimiter", DELIMITERS)
def test_csv_with_each_delimiter(delimiter: str) -> None:
    found = preview(delimited_text(delimiter).encode(), "people.csv", complete=True)
    assert found.format == "csv"
    assert found.delimiter == delimiter
    assert found.encoding == "UTF-8"
    assert found.columns == HEADER
    assert found.rows == expected()


@pytest.mark.parametrize(("name", "fmt"), [("people.tsv", "tsv"), ("PEOPLE.TXT", "txt")])
def test_tsv_and_txt(name: str, fmt: str) -> None:
    found = preview(delimited_text("\t").encode(), name, complete=True)
    assert (found.format, found.delimiter, found.columns) == (fmt, "\t", HEADER)
    assert found.rows == expected()


def test_tsv_is_tab_separated_whatever_the_content() -> None:
    found = preview(b"a,b\tc\n1,2\t3\n", "x.tsv", complete=True)
    assert found.columns == ["a,b", "c"]
    assert found.rows == [{"a,b": "1,2", "c": "3"}]


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (delimited_text().encode("utf-8"), "UTF-8"),
        (codecs.BOM_UTF8 + delimited_text().encode("utf-8"), "UTF-8 (BOM)"),
        (delimited_text().encode("utf-16"), "UTF-16"),  # little-endian with its BOM
        (("\ufeff" + delimited_text()).encode("utf-16-be"), "UTF-16"),
        (delimited_text().encode("utf-32"), "UTF-32"),
        (("\ufeff" + delimited_text()).encode("utf-32-be"), "UTF-32"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"],
)
def test_unicode_encodings(data: bytes, name: str) -> None:
    found = preview(data, "people.csv", complete=True)
    assert found.encoding == name
    assert found.columns == HEADER
    assert found.rows == expected()


def test_windows_1252() -> None:
    rows = [["Zoë", "Besançon", "€5"], ["Ann", "Köln", "1"]]
    found = preview(delimited_text(";", rows).encode("cp1252"), "people.csv", complete=True)
    assert (found.encoding, found.delimiter) == ("Windows-1252", ";")
    assert found.rows == expected(rows)


def test_quoted_fields_with_delimiters_quotes_and_line_breaks() -> None:
    data = b'name,note\n"Lee, Ann","line 1\nline 2"\n"say ""hi""",x\n'
    found = preview(data, "n.csv", complete=True)
    assert found.rows == [
        {"name": "Lee, Ann", "note": "line 1\nline 2"},
        {"name": 'say "hi"', "note": "x"},
    ]


def test_at_most_ten_rows() -> None:
    rows = [[f"n{i}", "c", str(i)] for i in range(25)]
    data = delimited_text(",", rows).encode()
    assert preview(data, "p.csv", complete=True).rows == expected(rows[:10])
    assert preview(data, "p.csv", complete=True, max_rows=3).rows == expected(rows[:3])


def test_fewer_rows_than_ten() -> None:
    found = preview(delimited_text(",", ROWS[:2]).encode(), "p.csv", complete=True)
    assert found.rows == expected(ROWS[:2])


def test_header_only_file_has_no_rows() -> None:
    found = preview(b"name,city,zip\n", "p.csv", complete=True)
    assert (found.columns, found.rows) == (HEADER, [])


def test_blank_lines_are_skipped_and_empty_values_are_none() -> None:
    found = preview(b"\n\na,b\n\n1,\n   \n,2\n", "p.csv", complete=True)
    assert found.columns == ["a", "b"]
    assert found.rows == [{"a": "1", "b": None}, {"a": None, "b": "2"}]


def test_a_prefix_cut_mid_row_leaves_the_partial_row_out() -> None:
    data = delimited_text().encode()
    cut = data.index("Zürich".encode()) + 3  # inside the last row (and inside a UTF-8 ü)
    found = preview(data[:cut], "p.csv", complete=False)
    assert found.rows == expected(ROWS[:2])


def test_a_prefix_cut_inside_a_quoted_line_break_leaves_the_record_out() -> None:
    data = b'a,b\n1,2\n"x\ny",3\n'
    cut = data.index(b"y")
    assert preview(data[:cut], "p.csv", complete=False).rows == [{"a": "1", "b": "2"}]
    assert preview(data, "p.csv", complete=False).rows == [
        {"a": "1", "b": "2"},
        {"a": "x\ny", "b": "3"},
    ]


def test_a_prefix_ending_at_a_row_end_keeps_that_row() -> None:
    data = delimited_text().encode()
    assert preview(data, "p.csv", complete=False).rows == expected()


def test_a_prefix_without_the_whole_header_needs_the_whole_file() -> None:
    with pytest.raises(NeedsWholeFile):
        preview(b"name,ci", "p.csv", complete=False)


def test_a_ragged_row_in_the_sample_is_the_workers_error(tmp_path: Path) -> None:
    data = b"a,b\n1,2\n3\n"
    with pytest.raises(InputFileError) as previewed:
        preview(data, "p.csv", complete=True)
    path = tmp_path / "p"
    path.write_bytes(data)
    with pytest.raises(InputFileError) as read:
        read_table(path, "p.csv")
    assert previewed.value.details == read.value.details
    assert "data row 1 (line 3) has 1 fields but the header has 2" in read.value.details


def test_long_values_are_capped() -> None:
    data = ("a,b\n" + "x" * 5000 + ",short\n").encode()
    (row,) = preview(data, "p.csv", complete=True).rows
    assert row["a"] == "x" * PREVIEW_CHARS + "\u2026"
    assert row["b"] == "short"
    (row,) = preview(data, "p.csv", complete=True, max_chars=10).rows
    assert row["a"] == "x" * 10 + "\u2026"


def test_an_empty_or_binary_file_is_refused() -> None:
    with pytest.raises(InputFileError, match="the file is empty"):
        preview(b"  \n", "p.csv", complete=True)
    with pytest.raises(InputFileError, match="not a text file"):
        preview(b"PK\x03\x04rest", "p.csv", complete=True)


# ----------------------------------------------------------------------------- JSON


def test_json_values_as_the_worker_reads_them() -> None:
    data = '[{"id": 1, "n": 1.50, "ok": true, "tags": ["a", 1], "x": null, "s": ""},\n' \
           ' {"id": 2e3, "x": NaN, "s": "é"}]'  # fmt: skip
    found = preview(data.encode(), "x.json", complete=True)
    assert (found.format, found.encoding, found.delimiter) == ("json", "UTF-8", None)
    assert found.columns == ["id", "n", "ok", "tags", "x", "s"]
    assert found.rows == [
        {"id": "1", "n": "1.50", "ok": "true", "tags": '["a",1]', "x": None, "s": None},
        {"id": "2e3", "n": None, "ok": None, "tags": None, "x": None, "s": "é"},
    ]


def test_json_with_bom_and_a_prefix_cut_inside_an_object() -> None:
    data = codecs.BOM_UTF8 + json.dumps([{"a": i, "b": f"v{i}"} for i in range(20)]).encode()
    cut = data.index(b'"v3"') + 2
    found = preview(data[:cut], "x.json", complete=False)
    assert found.encoding == "UTF-8 (BOM)"
    assert found.rows == [{"a": str(i), "b": f"v{i}"} for i in range(3)]
    assert len(preview(data, "x.json", complete=True).rows) == 10


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"a": 1}, {"c": 2}]', "data row 1 has the key 'c'"),
        (b'[{"a": 1}, 2]', "data row 1 is not a JSON object"),
        (b'[{"a": 1} {"a": 2}]', "invalid JSON at line 1 column 11: Expecting ',' delimiter"),
        (b'[{"a": 1},\n {"a": ]', "invalid JSON at line 2 column 8"),
        (b'[{"a": 1}', "invalid JSON at line 1 column 10"),
    ],
)
def test_json_errors_within_the_sample_are_the_workers(
    tmp_path: Path, data: bytes, message: str
) -> None:
    with pytest.raises(InputFileError) as previewed:
        preview(data, "x.json", complete=True)
    path = tmp_path / "x"
    path.write_bytes(data)
    with pytest.raises(InputFileError) as read:
        read_table(path, "x.json")
    assert message in read.value.details
    assert previewed.value.details == read.value.details


def test_jsonl_blank_lines_bom_and_a_cut_last_line() -> None:
    data = '\ufeff{"a": "x", "b": 1}\n\n{"a": "y"}\r\n{"a": "z", "b"'.encode()
    found = preview(data, "x.jsonl", complete=False)
    assert (found.format, found.encoding, found.delimiter) == ("jsonl", "UTF-8 (BOM)", None)
    assert found.columns == ["a", "b"]
    assert found.rows == [{"a": "x", "b": "1"}, {"a": "y", "b": None}]


def test_jsonl_errors_name_the_line() -> None:
    with pytest.raises(InputFileError, match=r"line 3 \(data row 1\) is not valid JSON"):
        preview(b'{"a": 1}\n\n{"a": \n', "x.jsonl", complete=True)
    with pytest.raises(InputFileError, match="has the key 'b'"):
        preview(b'{"a": 1}\n{"b": 1}\n', "x.jsonl", complete=True)


# ----------------------------------------------------------------------------- xlsx


def test_xlsx_preview_needs_the_whole_file(tmp_path: Path) -> None:
    rows: list[list[object]] = [["name", "n", "when"], ["Ann", 12.0, None], ["Bob", 1.5, True]]
    data = make_xlsx(rows, tmp_path / "w")
    with pytest.raises(NeedsWholeFile):
        preview(data[:100], "w.xlsx", complete=False)
    found = preview(data, "w.xlsx", complete=True)
    assert (found.format, found.encoding, found.delimiter) == ("xlsx", None, None)
    assert found.columns == ["name", "n", "when"]
    assert found.rows == [
        {"name": "Ann", "n": "12", "when": None},
        {"name": "Bob", "n": "1.5", "when": "TRUE"},
    ]


def test_xlsx_value_outside_the_header_is_the_workers_error(tmp_path: Path) -> None:
    data = make_xlsx([["a", "b"], [1, 2, 3]], tmp_path / "w")
    with pytest.raises(InputFileError, match="outside the header's columns"):
        preview(data, "w.xlsx", complete=True)


# ----------------------------------------------------------------------------- agreement


def _files(tmp_path: Path) -> list[tuple[str, bytes]]:
    many = [[f"name {i}", f"city {i % 3}" if i % 4 else "", str(i)] for i in range(30)]
    quoted = 'name,city,zip\n"Lee, Ann","a\nb",1\n"x ""y""",,2\n'
    workbook: list[list[object]] = [list(HEADER)]
    workbook += [[r[0], r[1] or None, r[2]] for r in many]
    return [
        ("a.csv", delimited_text(",", many).encode()),
        ("b.csv", delimited_text(";", ROWS).encode("utf-16")),
        ("c.txt", codecs.BOM_UTF8 + delimited_text("|", many).encode()),
        ("d.tsv", delimited_text("\t", ROWS).encode("utf-32")),
        ("e.csv", delimited_text(",", [["Zoë", "Köln", "1"]]).encode("cp1252")),
        ("f.csv", quoted.encode()),
        ("g.json", json.dumps([dict(zip(HEADER, r, strict=True)) for r in many]).encode()),
        ("h.jsonl", "".join(json.dumps({"n": i, "v": [i]}) + "\n" for i in range(12)).encode()),
        ("i.xlsx", make_xlsx(workbook, tmp_path / "i")),
    ]


@pytest.mark.usefixtures("text_reader")
def test_preview_rows_are_the_first_rows_read_table_reads(tmp_path: Path) -> None:
    for name, data in _files(tmp_path):
        path = tmp_path / f"upload-{name}"
        path.write_bytes(data)
        table = read_table(path, name)
        found = preview(data, name, complete=True)
        assert found.columns == table.header, name
        assert found.rows == first_rows(table), name
        assert (found.format, found.encoding, found.delimiter) == (
            table.format, table.encoding, table.delimiter
        ), name  # fmt: skip
        if not name.endswith(".xlsx"):  # a prefix: the rows it holds whole, in order
            cut = preview(data[: len(data) * 2 // 3], name, complete=False).rows
            assert cut == first_rows(table)[: len(cut)], name
            assert cut or table.nrows < 5, name  # a long file: some rows


@pytest.mark.usefixtures("text_reader")
@pytest.mark.parametrize(
    ("name", "data", "attributes"),
    [
        ("p.csv", delimited_text(";").encode(), ("csv", "UTF-8", ";")),
        ("p.txt", codecs.BOM_UTF8 + delimited_text("|").encode(), ("txt", "UTF-8 (BOM)", "|")),
        ("p.tsv", delimited_text("\t").encode("utf-16"), ("tsv", "UTF-16", "\t")),
        ("p.csv", delimited_text(",").encode("utf-32"), ("csv", "UTF-32", ",")),
        ("p.csv", delimited_text(",", [["é", "a", "1"]]).encode("cp1252"), ("csv", CP1252, ",")),
        ("p.json", b'[{"a": 1}]', ("json", "UTF-8", None)),
        ("p.json", codecs.BOM_UTF8 + b'[{"a": 1}]', ("json", "UTF-8 (BOM)", None)),
        ("p.jsonl", b'{"a": 1}\n', ("jsonl", "UTF-8", None)),
        ("p.jsonl", codecs.BOM_UTF8 + b'{"a": 1}\n', ("jsonl", "UTF-8 (BOM)", None)),
    ],
)
def test_read_table_reports_format_encoding_and_delimiter(
    tmp_path: Path, name: str, data: bytes, attributes: tuple[str, str | None, str | None]
) -> None:
    path = tmp_path / "upload"
    path.write_bytes(data)
    table = read_table(path, name)
    assert (table.format, table.encoding, table.delimiter) == attributes


def test_read_table_reports_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "w"
    make_xlsx([["a"], [1]], path)
    table = read_table(path, "w.xlsx")
    assert (table.format, table.encoding, table.delimiter) == ("xlsx", None, None)


def test_hand_built_tables_keep_working() -> None:
    table = Table("t.csv", ["a"], {"a": ["1"]}, 1)
    assert (table.format, table.encoding, table.delimiter) == (None, None, None)


def test_the_response_model_names_every_value_the_readers_report() -> None:
    def literal_values(field: str) -> set[object]:
        """The values of the Literal in the field's type (`Literal[...] | None` too)."""
        annotation = FileView.model_fields[field].annotation
        members = [annotation] if typing.get_origin(annotation) is typing.Literal else []
        members += [
            a for a in typing.get_args(annotation) if typing.get_origin(a) is typing.Literal
        ]
        return {value for member in members for value in typing.get_args(member)}

    assert literal_values("format") == set(FORMAT_NAMES)
    assert literal_values("encoding") == set(ENCODING_NAMES)
    assert literal_values("delimiter") == set(DELIMITERS)


PROBE = """
import json, sys
from matchq.formats import preview
preview(b"a,b\\n1,2\\n", "a.csv", complete=True)
preview(b'[{"a": 1}]', "a.json", complete=True)
preview(b'{"a": 1}\\n', "a.jsonl", complete=False)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[1:])))
"""


def test_previewing_text_and_json_loads_no_heavy_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "pandas", "numpy", "rapidfuzz", "openpyxl"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT / "shared"), "PATH": ""},
    )
    assert json.loads(out.stdout) == []
