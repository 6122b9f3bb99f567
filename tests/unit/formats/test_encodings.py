"""Text encodings of delimited files: BOMs, strict UTF-8, Windows-1252, binary refused.

Each case is read both ways the product reads a file: the API's header probe on the first
bytes (`read_columns`) and the worker's full read (`read_table`).
"""

from __future__ import annotations

import codecs
import zipfile
from io import BytesIO
from pathlib import Path
from unittest import mock

import pytest

from matchq.errors import InputFileError
from matchq.formats import delimited, read_columns, read_table

TEXT = "name,city\nJosé Müller,Malmö\nZoë,Kraków €\n"


def both(tmp_path: Path, data: bytes, name: str = "people.csv") -> tuple[list[str], dict]:
    path = tmp_path / "upload"
    path.write_bytes(data)
    columns = read_columns(data, name, complete=True)
    return columns, read_table(path, name).columns


def refused(tmp_path: Path, data: bytes, name: str = "people.csv") -> tuple[str, str]:
    path = tmp_path / "upload"
    path.write_bytes(data)
    with pytest.raises(InputFileError) as probe:
        read_columns(data, name, complete=True)
    with pytest.raises(InputFileError) as full:
        read_table(path, name)
    return probe.value.details, full.value.details


@pytest.mark.parametrize(
    "encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"]
)
def test_a_byte_order_mark_decides_the_encoding(tmp_path: Path, encoding: str) -> None:
    data = TEXT.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be", "utf-32-be"):  # the BOM-less codecs
        bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
               "utf-32-be": codecs.BOM_UTF32_BE}[encoding]  # fmt: skip
        data = bom + data
    columns, values = both(tmp_path, data)
    assert columns == ["name", "city"]
    assert values == {"name": ["José Müller", "Zoë"], "city": ["Malmö", "Kraków €"]}


def test_a_big_utf16_file_reads_as_its_utf8_twin(tmp_path: Path) -> None:
    rows = "".join(f'{k},"Ærø, {k}"\r\n' for k in range(60_000))
    text = "id,place\r\n" + rows
    twin = tmp_path / "twin"
    twin.write_bytes(text.encode("utf-8"))
    big = tmp_path / "big"
    big.write_bytes(text.encode("utf-16"))
    assert big.stat().st_size > delimited.FAST_MIN_BYTES
    with mock.patch.object(delimited, "_read_with_csv", side_effect=AssertionError):
        table = read_table(big, "big.csv")  # the pandas path, after transcoding
    assert table.columns == read_table(twin, "twin.csv").columns
    assert table.columns["place"][59_999] == "Ærø, 59999"
    assert set(tmp_path.iterdir()) == {twin, big}  # the UTF-8 copy is gone


def test_an_8_bit_file_is_read_as_windows_1252(tmp_path: Path) -> None:
    columns, values = both(tmp_path, TEXT.encode("cp1252"))
    assert columns == ["name", "city"]
    assert values == {"name": ["José Müller", "Zoë"], "city": ["Malmö", "Kraków €"]}


def test_latin1_letters_read_the_same(tmp_path: Path) -> None:
    _, values = both(tmp_path, "name\nJosé\nÅsa\n".encode("latin-1"))
    assert values == {"name": ["José", "Åsa"]}


def test_damaged_utf8_is_an_error_naming_the_offset(tmp_path: Path) -> None:
    data = "name\nJosé\n".encode() + b"Bj\xf6rn\n"  # one Latin-1 byte in a UTF-8 file
    offset = data.index(b"\xf6")
    for details in refused(tmp_path, data):
        assert details.startswith("people.csv: not valid UTF-8 at byte offset")
        assert f"offset {offset:,}," in details


def test_a_byte_windows_1252_lacks_is_an_error(tmp_path: Path) -> None:
    data = b"name\nA\x81B\n"
    for details in refused(tmp_path, data):
        assert details == (
            "people.csv: not valid UTF-8 (byte offset 6) and not Windows-1252 text "
            "(byte 0x81 at offset 6)"
        )


def _xlsx() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (_xlsx(), "it is a zip archive (an Excel workbook?"),
        (b"%PDF-1.7\n...", "it is a PDF document"),
        (b"\x89PNG\r\n\x1a\n....", "it is a PNG image"),
        (b"name\nab\x00cd\n", "it holds NUL bytes"),
        ("name\nJosé\n".encode("utf-16-le"), "UTF-16/UTF-32 without its byte order mark"),
        (b"name\n" + bytes(range(1, 9)) * 20 + b"\n", "are control characters"),
    ],
)
def test_binary_content_is_not_a_text_file(tmp_path: Path, data: bytes, says: str) -> None:
    for details in refused(tmp_path, data):
        assert details.startswith("people.csv: not a text file")
        assert says in details


def test_a_utf16_file_with_a_broken_surrogate_names_the_offset(tmp_path: Path) -> None:
    data = "name\nab\n".encode("utf-16") + b"\x00\xd8" + "c\n".encode("utf-16-le")
    for details in refused(tmp_path, data):
        assert details.startswith("people.csv: not valid UTF-16 at byte offset")


def test_a_stray_control_character_in_text_is_kept(tmp_path: Path) -> None:
    _, values = both(tmp_path, b"name\n" + b"plain text " * 20 + b"\x0bx\n")
    assert values["name"][0].endswith("\x0bx")
