"""matchq.formats.read_columns: header columns from a file's first bytes, as the API probes them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from matchq.errors import InputFileError
from matchq.formats import SUPPORTED_EXTENSIONS, NeedsWholeFile, read_columns, read_table
from tests.support import ROOT

HEAVY = ("pandas", "numpy", "rapidfuzz", "openpyxl")
PROBE = """
import json, sys
from matchq.formats import read_columns
read_columns(b"a,b\\n1,2\\n", "a.csv", complete=True)
read_columns(b'[{"a": 1}]', "a.json", complete=True)
read_columns(b'{"a": 1}\\n', "a.jsonl", complete=False)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[1:])))
"""


def test_probing_text_and_json_loads_no_heavy_library() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *HEAVY],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT / "shared"), "PATH": ""},
    )
    assert json.loads(out.stdout) == []


def test_supported_extensions() -> None:
    assert SUPPORTED_EXTENSIONS == (".csv", ".tsv", ".txt", ".xlsx", ".json", ".jsonl")


@pytest.mark.parametrize(
    ("data", "name", "columns"),
    [
        (b"name,city\nAnn,Bonn\n", "a.csv", ["name", "city"]),
        (b"name;city;zip\nAnn;Bonn;53111\n", "a.csv", ["name", "city", "zip"]),
        (b"name|city\nAnn|Bonn\n", "a.txt", ["name", "city"]),
        (b"name\tcity\nAnn\tBonn\n", "A.TSV", ["name", "city"]),
        (b"name\tcity, state\nAnn\tBonn, NRW\n", "a.txt", ["name", "city, state"]),
        (b'"full, name","x"\n"a, b",1\n', "a.csv", ["full, name", "x"]),
        (b"\xef\xbb\xbf name , city\r\nAnn,Bonn\r\n", "a.csv", ["name", "city"]),
        ("Prénom,Straße\nA,B\n".encode("latin-1"), "a.csv", ["Prénom", "Straße"]),
        ("Prénom,Straße\nA,B\n".encode(), "a.csv", ["Prénom", "Straße"]),
        (b"name\nAnn\n", "a.csv", ["name"]),
        (b"name,city", "a.csv", ["name", "city"]),
        (b'[{"b": 1, "a": {"x": 1}}, {"b": 2}]', "a.json", ["b", "a"]),
        (b'  \n[ \n {"b": 1, " a ": 2}]', "a.json", ["b", " a "]),
        (b'\n{"id": 1, "name": "x"}\n{"id": 2}\n', "a.jsonl", ["id", "name"]),
    ],
)
def test_columns_of_complete_files(data: bytes, name: str, columns: list[str]) -> None:
    assert read_columns(data, name, complete=True) == columns


def test_prefix_of_a_large_csv() -> None:
    body = b"id,name,city\n" + b"".join(b'%d,"Name, %d",City\n' % (k, k) for k in range(100000))
    prefix = body[: 1 << 20]
    assert read_columns(prefix, "big.csv", complete=False) == ["id", "name", "city"]


def test_prefix_cut_inside_a_utf8_sequence() -> None:
    data = "name,straße\n".encode() + "ä".encode() * 10
    assert read_columns(data[:-1], "a.csv", complete=False) == ["name", "straße"]


def test_prefix_of_json_and_jsonl() -> None:
    rows = [{"id": k, "name": f"n{k}"} for k in range(50000)]
    data = json.dumps(rows).encode()
    assert read_columns(data[:1000], "a.json", complete=False) == ["id", "name"]
    lines = "\n".join(json.dumps(r) for r in rows).encode()
    assert read_columns(lines[:1000], "a.jsonl", complete=False) == ["id", "name"]


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"a,b,c" * 10, "a.csv"),
        (b'[{"a": 1, "b": "' + b"x" * 100, "a.json"),
        (b'{"a": 1, "b": "' + b"x" * 100, "a.jsonl"),
        (b"PK\x03\x04", "a.xlsx"),
    ],
)
def test_prefix_too_short_asks_for_the_whole_file(data: bytes, name: str) -> None:
    with pytest.raises(NeedsWholeFile, match=name.replace(".", r"\.")):
        read_columns(data, name, complete=False)


def xlsx_bytes(cells: dict[str, object]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for ref, value in cells.items():
        sheet[ref] = value
    workbook.create_sheet("second")["A1"] = "not this"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_first_sheet_shared_strings_and_numbers() -> None:
    data = xlsx_bytes({"B3": "name", "C3": "city ", "D3": 2024, "E3": 1.5, "B4": "x"})
    assert read_columns(data, "w.xlsx", complete=True) == ["name", "city", "2024", "1.5"]


def test_xlsx_inline_strings_and_sheet_order() -> None:
    """A workbook as other writers make it: inline strings, rich-text runs, a boolean, and
    its first sheet (workbook order) stored under another name than sheet1.xml."""
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c>'
        '<c r="B1" t="inlineStr"><is><r><t>full </t></r><r><t>name</t></r></is></c>'
        '<c r="C1" t="b"><v>1</v></c></row></sheetData></worksheet>'
    )
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    workbook = (
        f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
        '<sheet name="first" sheetId="2" r:id="rId7"/><sheet name="later" sheetId="1" r:id="rId8"/>'
        "</sheets></workbook>"
    )
    rels = (
        f'<Relationships xmlns="{package}">'
        f'<Relationship Id="rId7" Target="worksheets/data.xml" Type="{rel}/worksheet"/>'
        f'<Relationship Id="rId8" Target="worksheets/sheet1.xml" Type="{rel}/worksheet"/>'
        "</Relationships>"
    )
    root_rels = (
        f'<Relationships xmlns="{package}">'
        f'<Relationship Id="rId1" Target="xl/workbook.xml" Type="{rel}/officeDocument"/>'
        "</Relationships>"
    )
    ml = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    types = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{ml}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/data.xml" ContentType="{ml}.worksheet+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ml}.worksheet+xml"/>'
        "</Types>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", root_rels)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", rels)
        archive.writestr("xl/worksheets/data.xml", sheet)
        archive.writestr("xl/worksheets/sheet1.xml", sheet.replace(">id<", ">wrong<"))
    assert read_columns(buffer.getvalue(), "w.xlsx", complete=True) == ["id", "full name", "TRUE"]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "e.csv", r"e\.csv: the file is empty"),
        (b" \n \n", "e.csv", r"e\.csv: the file is empty"),
        (b"a,b,a\n1,2,3\n", "d.csv", r"d\.csv: column name 'a' appears twice"),
        (b"a, a \n1,2\n", "d.csv", r"d\.csv: column name 'a' appears twice"),
        (b"a,,c\n1,2,3\n", "b.csv", r"b\.csv: column 2 of the header has a blank name"),
        (b'[{"a": 1, "a": 2}]', "d.json", r"d\.json: column name 'a' appears twice"),
        (b'[{"a": 1, " ": 2}]', "b.json", r"b\.json: column 2 of the header has a blank name"),
        (b'{"a": 1}', "o.json", r"o\.json: a \.json file must hold an array of objects"),
        (b"[]", "o.json", r"o\.json: the array holds no rows"),
        (b"[1]", "o.json", r"o\.json: row 0 is not a JSON object"),
        (b"[{]", "o.json", r"o\.json: invalid JSON at line 1 column 3"),
        (b'[{"a": "\xff"}]', "u.json", r"u\.json: not valid UTF-8"),
        (b"[1]\n", "o.jsonl", r"o\.jsonl: line 1 is not a JSON object"),
        (b"{]\n", "o.jsonl", r"o\.jsonl: line 1 is not valid JSON"),
        (b"{}\n", "o.jsonl", r"o\.jsonl: the header row is empty"),
        (b"not a zip", "x.xlsx", r"x\.xlsx: not a readable \.xlsx workbook"),
        (b"a,b\n", "x.pdf", r"x\.pdf: unsupported file type '\.pdf'"),
        (b"a,b\n", "x", r"x: unsupported file type '\(none\)'"),
    ],
)
def test_errors_name_the_file(data: bytes, name: str, message: str) -> None:
    with pytest.raises(InputFileError, match=message) as info:
        read_columns(data, name, complete=True)
    assert not isinstance(info.value, NeedsWholeFile)


def test_empty_xlsx_sheet() -> None:
    with pytest.raises(InputFileError, match=r"e\.xlsx: the first sheet is empty"):
        read_columns(xlsx_bytes({}), "e.xlsx", complete=True)


def test_agrees_with_the_worker_reader(tmp_path: Path) -> None:
    samples = {
        "a.csv": "\ufeff id ;Name;city\n1;x;y\n".encode(),
        "b.txt": b"x|y z|w\n1|2|3\n",
        "c.json": b'[{"k": 1, "v ": 2}]',
        "d.jsonl": b'{"k": 1}\n',
        "e.xlsx": xlsx_bytes({"C2": " name", "D2": 7, "C3": "x"}),
    }
    for name, data in samples.items():
        path = tmp_path / "upload"
        path.write_bytes(data)
        assert read_columns(data, name, complete=True) == read_table(path, name).header
