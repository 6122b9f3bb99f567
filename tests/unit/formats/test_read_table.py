"""matchq.formats.read_table: every supported format, and every bad-input case."""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import openpyxl
import pytest

from matchq.errors import InputFileError
from matchq.formats import ALL_COLUMNS, delimited, read_table


@pytest.fixture(autouse=True, params=["csv module", "pandas"])
def text_reader(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test runs with delimited text read by the csv module and by pandas."""
    fast_min = 0 if request.param == "pandas" else 10**18
    with mock.patch.object(delimited, "FAST_MIN_BYTES", fast_min):
        yield


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set the readers' limits (matchq.formats.limits) by their MATCHQ_* variables."""
    from matchq.formats.limits import ReadLimits, read_limits

    def set_limits(**values: object) -> None:
        for field in ReadLimits.model_fields:
            monkeypatch.delenv(f"MATCHQ_{field.upper()}", raising=False)
        for name, value in values.items():
            monkeypatch.setenv(f"MATCHQ_{name}", str(value))
        read_limits.cache_clear()

    yield set_limits
    monkeypatch.undo()
    read_limits.cache_clear()
    csv.field_size_limit(ReadLimits().max_field_chars)  # the csv module's limit is global


def write(tmp_path: Path, data: bytes | str, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_csv_quoted_fields_embedded_newlines_and_empty_values(tmp_path: Path) -> None:
    path = write(tmp_path, 'id,name,note\n1,"Smith, John","line one\nline two"\n2,,"say ""hi"""\n')
    table = read_table(path, "people.csv")
    assert table.header == ["id", "name", "note"]
    assert table.nrows == 2
    assert table.columns["name"] == ["Smith, John", None]
    assert table.columns["note"] == ["line one\nline two", 'say "hi"']


def test_csv_semicolon_sniffed_bom_dropped_header_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffname ; city\nAnna;Köln\nBen;Bonn\n")
    table = read_table(path, "x.csv")
    assert table.header == ["name", "city"]
    assert table.columns["city"] == ["Köln", "Bonn"]


@pytest.mark.parametrize(
    ("name", "text"),
    [("x.tsv", "a\tb\n1,5\t2\n"), ("x.txt", "a|b\n1,5|2\n"), ("x.txt", "a\tb\n1\t2\n")],
)
def test_tsv_and_txt_delimiters(tmp_path: Path, name: str, text: str) -> None:
    table = read_table(write(tmp_path, text), name)
    assert table.header == ["a", "b"]
    assert table.columns["b"] == ["2"]


def test_single_column_csv_and_blank_lines_skipped(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "name\n\nAnna\n\nBen\n\n"), "x.csv")
    assert table.columns["name"] == ["Anna", "Ben"]


def test_latin1_fallback(tmp_path: Path) -> None:
    path = write(tmp_path, "name,city\nJosé,Malmö\n".encode("latin-1"))
    assert read_table(path, "x.csv").columns["name"] == ["José"]


def test_numbers_kept_as_text(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "zip,amount\n00123,1.50\n"), "x.csv")
    assert table.columns == {"zip": ["00123"], "amount": ["1.50"]}


def test_only_requested_columns_and_all_columns_marker(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,c\n1,2,3\n")
    assert list(read_table(path, "x.csv", ["c", "a"]).columns) == ["c", "a"]
    assert list(read_table(path, "x.csv", ["c", ALL_COLUMNS]).columns) == ["a", "b", "c"]


def test_json_array_of_objects(tmp_path: Path) -> None:
    data = '[{"id": 1, "zip": "007", "n": 1.50, "ok": true, "tags": ["a", 1], "x": null},\n' \
           ' {"id": 2e3, "zip": "", "x": NaN}]'  # fmt: skip
    table = read_table(write(tmp_path, data), "x.json")
    assert table.header == ["id", "zip", "n", "ok", "tags", "x"]
    assert table.columns["id"] == ["1", "2e3"]
    assert table.columns["n"] == ["1.50", None]
    assert table.columns["ok"] == ["true", None]
    assert table.columns["tags"] == ['["a",1]', None]
    assert table.columns["zip"] == ["007", None]
    assert table.columns["x"] == [None, None]


def test_jsonl_with_bom_and_blank_lines(tmp_path: Path) -> None:
    data = '\ufeff{"a": "x", "b": 1}\n\n{"a": "y"}\n'
    table = read_table(write(tmp_path, data), "x.jsonl")
    assert table.columns == {"a": ["x", "y"], "b": ["1", None]}


def make_xlsx(path: Path, cells: dict[str, object], *, sheets: int = 1) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for ref, value in cells.items():
        sheet[ref] = value
    for k in range(1, sheets):
        workbook.create_sheet(f"other{k}")["A1"] = "ignored"
    workbook.save(path)
    return path


def test_xlsx_first_sheet_values_as_text(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "upload", {
        "B2": "name", "C2": "born", "D2": "n",
        "B3": "Anna", "C3": datetime.datetime(2020, 1, 2), "D3": 12345,
        "B4": "Ben", "D4": 1.5,
        "B6": "Cleo", "C6": True,
    }, sheets=2)  # fmt: skip
    table = read_table(path, "people.xlsx")
    assert table.header == ["name", "born", "n"]
    assert table.columns == {
        "name": ["Anna", "Ben", "Cleo"],
        "born": ["2020-01-02", None, "TRUE"],
        "n": ["12345", "1.5", None],
    }


def test_xlsx_value_outside_header_is_an_error(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "u", {"A1": "name", "A2": "x", "C3": "stray"})
    with pytest.raises(InputFileError, match=r"p\.xlsx: data row 1 \(sheet row 3\).*column C"):
        read_table(path, "p.xlsx")


BAD_CASES = [
    ("x.csv", b"", r"x\.csv: the file is empty"),
    ("x.csv", b"  \n\n", r"x\.csv: the file is empty"),
    ("x.csv", b"a,b\n", r"x\.csv: the file has a header but no data rows"),
    ("x.csv", b"a,a\n1,2\n", r"x\.csv: column name 'a' appears twice"),
    ("x.csv", b"a,,c\n1,2,3\n", r"x\.csv: column 2 of the header has a blank name"),
    ("x.csv", b"a,b\n1,2\n3,4,5\n", r"x\.csv: data row 1 \(line 3\) has 3 fields but the head"),
    ("x.csv", b"a,b\n1,2\n3\n", r"x\.csv: data row 1 \(line 3\) has 1 fields but the header"),
    ("x.json", b'{"a": 1}', r"x\.json: a \.json file must hold an array of objects"),
    ("x.json", b"[1, 2]", r"x\.json: row 0 is not a JSON object"),
    ("x.json", b'[{"a": 1}, 5]', r"x\.json: data row 1 is not a JSON object"),
    ("x.json", b"[]", r"x\.json: the array holds no rows"),
    ("x.json", b'[{"a": 1}, {"a": 2, "b": 3}]', r"x\.json: data row 1 has the key 'b'"),
    ("x.json", b'[{"a": 1}, {"a": }]', r"x\.json: invalid JSON at line 1 column"),
    ("x.json", b'[{"a": 1, "a": 2}]', r"x\.json: column name 'a' appears twice"),
    ("x.json", b'[{"a": "caf\xe9"}]', r"x\.json: not valid UTF-8 \(byte offset 11\)"),
    ("x.jsonl", b'{"a": 1}\n{"a": \n', r"x\.jsonl: line 2 \(data row 1\) is not valid JSON"),
    ("x.jsonl", b'{"a": 1}\n["a"]\n', r"x\.jsonl: line 2 \(data row 1\) is not a JSON object"),
    ("x.jsonl", b'{"a": 1}\n{"a": "\xff"}\n', r"x\.jsonl: line 2 is not valid UTF-8"),
    ("x.jsonl", b'{"": 1}\n', r"x\.jsonl: column 1 of the header has a blank name"),
    ("x.xlsx", b"PK\x03\x04 not really a zip", r"x\.xlsx: not a readable \.xlsx workbook"),
    ("x.xlsx", b"name,city\n", r"x\.xlsx: not a readable \.xlsx workbook"),
    ("x.pdf", b"a,b\n1,2\n", r"x\.pdf: unsupported file type '\.pdf'"),
    ("noext", b"a,b\n1,2\n", r"noext: unsupported file type '\(none\)'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "message"), BAD_CASES)
def test_bad_input(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    with pytest.raises(InputFileError, match=message):
        read_table(write(tmp_path, data), name)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"a\.csv: the file is missing"):
        read_table(tmp_path / "nope", "a.csv")


def test_unknown_column_names_column_and_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"a\.csv: no column 'email' \(the columns are 'x'"):
        read_table(write(tmp_path, "x,y\n1,2\n"), "a.csv", ["x", "email"])


def test_more_rows_than_max_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "a\n" + "x\n" * 11)
    assert read_table(path, "a.csv", max_rows=11).nrows == 11
    with pytest.raises(InputFileError, match=r"a\.csv: more than 10 data rows"):
        read_table(path, "a.csv", max_rows=10)
    lines = "\n".join(json.dumps({"a": k}) for k in range(11))
    with pytest.raises(InputFileError, match=r"a\.jsonl: more than 10 data rows"):
        read_table(write(tmp_path, lines), "a.jsonl", max_rows=10)
    with pytest.raises(InputFileError, match=r"a\.json: more than 10 data rows"):
        read_table(write(tmp_path, json.dumps([{"a": 1}] * 11)), "a.json", max_rows=10)


def test_xlsx_header_only_and_empty_sheet(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"h\.xlsx: the file has a header but no data rows"):
        read_table(make_xlsx(tmp_path / "h", {"A1": "name"}), "h.xlsx")
    with pytest.raises(InputFileError, match=r"e\.xlsx: the first sheet is empty"):
        read_table(make_xlsx(tmp_path / "e", {}), "e.xlsx")


def test_tick_is_called_while_reading(tmp_path: Path) -> None:
    seen: list[int] = []
    path = write(tmp_path, "a\n" + "x\n" * 20000)
    read_table(path, "a.csv", tick=seen.append)
    assert seen and seen == sorted(seen)


def test_cancel_while_reading_a_workbook_is_not_an_input_error(tmp_path: Path) -> None:
    from matchq.errors import JobCancelled

    cells: dict[str, object] = {"A1": "name", **{f"A{k}": f"n{k}" for k in range(2, 9000)}}
    path = make_xlsx(tmp_path / "w", cells)

    def cancel(_rows: int) -> None:
        raise JobCancelled("the job was cancelled")

    with pytest.raises(JobCancelled):
        read_table(path, "w.xlsx", tick=cancel)


def test_cancel_while_reading_text_stops_the_read(tmp_path: Path) -> None:
    from matchq.errors import JobCancelled

    path = write(tmp_path, "a,b\n" + "x,y\n" * 300_000)

    def cancel(_rows: int) -> None:
        raise JobCancelled("the job was cancelled")

    with pytest.raises(JobCancelled):
        read_table(path, "a.csv", tick=cancel)


def _with_part(path: Path, part: str, data: bytes) -> bytes:
    """The workbook at `path` with one more (deflated) part."""
    import zipfile
    from io import BytesIO

    buffer = BytesIO(path.read_bytes())
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(part, data)
    return buffer.getvalue()


def test_xlsx_zip_bomb_is_refused_before_inflating(tmp_path: Path, limits: Any) -> None:
    from matchq.formats import read_columns

    good = make_xlsx(tmp_path / "good", {"A1": "name", "A2": "x"})
    bomb = _with_part(good, "xl/worksheets/sheet9.xml", b" " * (4 << 20))  # ~1000:1
    assert len(bomb) < 100_000
    path = tmp_path / "bomb"
    path.write_bytes(bomb)
    want = "b.xlsx: the workbook part xl/worksheets/sheet9.xml is compressed"
    with mock.patch("openpyxl.reader.excel.ExcelReader.read", side_effect=AssertionError):
        with pytest.raises(InputFileError, match=want):
            read_table(path, "b.xlsx")
        with pytest.raises(InputFileError, match=want):  # the API's header probe too
            read_columns(bomb, "b.xlsx", complete=True)
    part_limit = "would inflate to 4,194,304 bytes; the limit is 1,000,000 .MATCHQ_XLSX_MAX_PART"
    limits(XLSX_MAX_PART_BYTES=1_000_000)
    with pytest.raises(InputFileError, match=part_limit):
        read_table(path, "b.xlsx")
    limits(XLSX_MAX_TOTAL_BYTES=2_000_000, XLSX_MAX_RATIO=10**6)
    with pytest.raises(InputFileError, match="the workbook would inflate to"):
        read_table(path, "b.xlsx")
    limits()
    assert read_table(good, "g.xlsx").columns == {"name": ["x"]}  # a real workbook passes


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_a_line_past_the_limit_fails_naming_it(tmp_path: Path, limits: Any, ending: str) -> None:
    from matchq.formats import limits as module

    limits(MAX_LINE_BYTES=2048)
    ok = ["name,city", "a" * 2000 + ",x", "b,y"]
    assert read_table(write(tmp_path, ending.join(ok) + ending), "a.csv").nrows == 2
    long = [*ok, "c,z", "d" * 2100 + ",w", "e,v"]
    with pytest.raises(InputFileError, match=r"^a.csv: line 5 is longer than 2,048 bytes"):
        read_table(write(tmp_path, ending.join(long) + ending), "a.csv")
    jsonl = ['{"name": "a"}', '{"name": "%s"}' % ("b" * 3000)]
    with pytest.raises(InputFileError, match=r"^a.jsonl: line 2 is longer"):
        read_table(write(tmp_path, "\n".join(jsonl)), "a.jsonl")
    # lines across block boundaries, and a last line without an ending
    with mock.patch.object(module, "BLOCK_BYTES", 1000):
        assert read_table(write(tmp_path, ending.join(ok)), "a.csv").nrows == 2
        with pytest.raises(InputFileError, match=r"line 5 is longer"):
            read_table(write(tmp_path, ending.join(long)), "a.csv")
        with pytest.raises(InputFileError, match=r"line 2 is longer"):
            read_table(write(tmp_path, "name\n" + "x" * 5000), "a.csv")
    # a .json array is often one line: not checked
    records = json.dumps([{"name": "x" * 100} for _ in range(50)])
    assert read_table(write(tmp_path, records), "a.json").nrows == 50


def test_blank_xlsx_rows_past_the_limit_fail(tmp_path: Path, limits: Any) -> None:
    limits(XLSX_MAX_BLANK_ROWS=5)
    cells: dict[str, object] = {"A1": "name", "A2": "x", "A7": "y"}  # 4 blank rows: fine
    assert read_table(make_xlsx(tmp_path / "ok", cells), "a.xlsx").nrows == 2
    cells.update({"A8": "", "A9": " ", "A20": None, "A30": "z"})
    with pytest.raises(
        InputFileError, match=r"^a.xlsx: more than 5 blank rows in a row \(sheet rows 8 to 13\)"
    ):
        read_table(make_xlsx(tmp_path / "bad", cells), "a.xlsx")


def test_a_bad_limit_setting_names_its_variable(limits: Any) -> None:
    from matchq.formats.limits import read_limits
    from matchq.settings import ConfigurationError

    limits(MAX_LINE_BYTES="lots")
    with pytest.raises(ConfigurationError, match="MATCHQ_MAX_LINE_BYTES"):
        read_limits()


def test_rows_times_columns_past_the_limit_fail_before_parsing(tmp_path: Path, limits: Any) -> None:
    limits(MAX_CELLS=30)
    header = ",".join(f"c{i}" for i in range(3))
    ok = "\n".join([header] + ["a,b,c"] * 10) + "\n"
    assert read_table(write(tmp_path, ok), "a.csv").nrows == 10
    big = ok + "a,b,c\n"
    want = r"^a.csv: 11 rows x 3 columns is more than 30 cells \(the limit, MATCHQ_MAX_CELLS\)"
    with (
        mock.patch("matchq.formats.delimited.DelimitedText.read_table", side_effect=AssertionError),
        pytest.raises(InputFileError, match=want),
    ):
        read_table(write(tmp_path, big), "a.csv")
    cells: dict[str, object] = {"A1": "x", "B1": "y", "C1": "z"}
    cells.update({f"A{r}": "v" for r in range(2, 13)})
    with pytest.raises(InputFileError, match=r"^a.xlsx: 11 rows x 3 columns is more than 30"):
        read_table(make_xlsx(tmp_path / "s", cells), "a.xlsx")


def test_a_field_past_the_limit_fails_naming_it(tmp_path: Path, limits: Any) -> None:
    limits(MAX_FIELD_CHARS=2000)
    quoted = '"' + "b\n" * 600 + '"'  # 1,200 characters over 601 lines
    ok = f"name,city\n{'a' * 1500},x\n{quoted},y\n"
    assert read_table(write(tmp_path, ok), "a.csv").nrows == 2
    long = f"name,city\nz,w\n{'a' * 2500},x\n"
    want = r"^a.csv: line 3 \(data row 1\) has a field longer than 2,000 characters"
    with pytest.raises(InputFileError, match=want):
        read_table(write(tmp_path, long), "a.csv")
    spanning = f'name,city\n"{"b" * 1500}\n{"c" * 1500}",y\n'  # lines within MAX_LINE_BYTES
    with pytest.raises(InputFileError, match=r"has a field longer than 2,000 characters"):
        read_table(write(tmp_path, spanning), "a.csv")
