"""The .xlsx reader: its shared string table equals openpyxl's own, read only as needed."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import IO
from unittest import mock

import pytest
from openpyxl.reader.strings import read_string_table

from matchq.formats import read_columns, read_table, xlsx

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from bench_readers import write_xlsx

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
ITEMS = [
    "<si><t>plain</t></si>",
    '<si><t xml:space="preserve">  spaced  </t></si>',
    "<si><t/></si>",
    "<si><r><t>rich </t></r><r><rPr><b/></rPr><t>text</t></r></si>",
    "<si><t>base</t><rPh sb='0' eb='1'><t>phonetic</t></rPh></si>",
    "<si><r><t>run</t></r><rPh sb='0' eb='2'><t>left out</t></rPh></si>",
    "<si><t>a_x005F_x000D_b</t></si>",
    "<si><t>caf\u00e9 &amp; &lt;tag&gt;</t></si>",
    "<si></si>",
]


@pytest.mark.parametrize("item", ITEMS)
def test_shared_strings_equal_openpyxl(item: str) -> None:
    xml = f'<sst xmlns="{MAIN}">{item}<si><t>next</t></si></sst>'.encode()
    table = xlsx._SharedStrings(io.BytesIO(xml))
    want = read_string_table(io.BytesIO(xml))
    assert [table[k] for k in range(len(want))] == want
    with pytest.raises(IndexError):
        table[len(want)]


def test_the_header_probe_parses_only_the_strings_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "w.xlsx"  # shared strings, as spreadsheet programs write them
    write_xlsx(path, [["name", "city"], *([f"name {k}", f"city {k}"] for k in range(3000))])
    tables: list[xlsx._SharedStrings] = []

    class Spy(xlsx._SharedStrings):
        CHUNK = 256

        def __init__(self, source: IO[bytes]) -> None:
            super().__init__(source)
            tables.append(self)

    with mock.patch.object(xlsx, "_SharedStrings", Spy):
        assert read_columns(path.read_bytes(), "w.xlsx", complete=True) == ["name", "city"]
    assert 2 <= len(tables[0].strings) < 20
    table = read_table(path, "w.xlsx")  # the full read parses them all, as it goes
    assert table.columns["city"][-1] == "city 2999"
