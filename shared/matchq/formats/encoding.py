"""Text encodings: UTF-8 (a BOM is dropped), and Latin-1 for text files that are not UTF-8.

Delimited text falls back to Latin-1 (every byte string is valid Latin-1); JSON and JSONL
must be UTF-8.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from matchq.errors import InputFileError

UTF8 = "utf-8-sig"  # decodes UTF-8 and drops a leading BOM
LATIN1 = "latin-1"
BOM = codecs.BOM_UTF8
_BLOCK = 1 << 20


def decode_text(data: bytes, *, complete: bool) -> str:
    """UTF-8 (BOM dropped), else Latin-1. A prefix may end inside a UTF-8 sequence."""
    try:
        return codecs.getincrementaldecoder(UTF8)().decode(data, final=complete)
    except UnicodeDecodeError:
        return data.decode(LATIN1)


def decode_as(data: bytes, encoding: str, *, complete: bool) -> str:
    """`data` (the whole file or a prefix) decoded with a known encoding."""
    return codecs.getincrementaldecoder(encoding)().decode(data, final=complete)


def file_encoding(path: Path) -> str:
    """UTF8 when the whole file is valid UTF-8, else LATIN1 (read in blocks)."""
    decoder = codecs.getincrementaldecoder(UTF8)()
    try:
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return LATIN1
    return UTF8


def decode_json_text(data: bytes, filename: str, *, complete: bool) -> str:
    """UTF-8 (BOM dropped) or InputFileError naming the byte offset."""
    try:
        return codecs.getincrementaldecoder(UTF8)().decode(data, final=complete)
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{filename}: not valid UTF-8 (byte offset {exc.start}); JSON files must be UTF-8"
        ) from None
