"""The .xlsx reader's shared string table equals openpyxl's own, string for string."""

from __future__ import annotations

import io

import pytest
from openpyxl.reader.strings import read_string_table

from matchq.formats import xlsx

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
    assert xlsx._shared_strings(io.BytesIO(xml)) == read_string_table(io.BytesIO(xml))
