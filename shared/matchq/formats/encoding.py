"""Text encodings of delimited files: BOMs honoured, strict UTF-8, a Windows-1252 fallback
for files that are plainly not UTF-8, binary content refused.

The rules (docs/matching.md, "File formats"), in order:

1. A byte order mark decides: UTF-32 (LE or BE), UTF-8, UTF-16 (LE or BE). The file must
   then decode in that encoding throughout.
2. Content that is not text is refused, naming what it looks like: a known binary
   signature (zip, hence .xlsx renamed .csv; PDF; images; gzip; the old .xls), a NUL
   byte (binary, or UTF-16/32 without its BOM), or more than 1 % control characters other
   than tab, line ends, form feed and escape in the first 64 KiB.
3. Valid UTF-8 throughout: UTF-8.
4. Not valid UTF-8, and no valid multi-byte UTF-8 sequence anywhere: an 8-bit file, read as
   Windows-1252 (which Latin-1 text also is, for every letter); a byte Windows-1252 does not
   define is an error naming its offset.
5. Not valid UTF-8 but holding valid multi-byte UTF-8 sequences: a damaged UTF-8 file. It is
   an error naming the offset of the first invalid byte, not a silent mojibake.

JSON and JSONL must be UTF-8 (a BOM dropped), as RFC 8259 says.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from matchq.errors import InputFileError

UTF8 = "utf-8-sig"  # decodes UTF-8 and drops a leading BOM
UTF16 = "utf-16"  # with a BOM, which the codec consumes
UTF32 = "utf-32"
CP1252 = "cp1252"
BOM = codecs.BOM_UTF8
# longest first: the UTF-32 LE mark starts with the UTF-16 LE one
_BOMS = [
    (codecs.BOM_UTF32_LE, UTF32),
    (codecs.BOM_UTF32_BE, UTF32),
    (codecs.BOM_UTF8, UTF8),
    (codecs.BOM_UTF16_LE, UTF16),
    (codecs.BOM_UTF16_BE, UTF16),
]
NAMES = {UTF8: "UTF-8", UTF16: "UTF-16", UTF32: "UTF-32", CP1252: "Windows-1252"}
UTF8_BOM_NAME = "UTF-8 (BOM)"  # what a preview and a table report for UTF-8 with a BOM
# Every encoding a preview or a table reports (`encoding_name`).
ENCODING_NAMES = ("UTF-8", UTF8_BOM_NAME, "UTF-16", "UTF-32", "Windows-1252")
_SIGNATURES = [
    (b"PK\x03\x04", "a zip archive (an Excel workbook? upload it with the .xlsx extension)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls (OLE) file; save it as .xlsx or .csv"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "gzip-compressed; upload it uncompressed"),
]
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
HEAD_BYTES = 1 << 16  # the prefix the text checks look at
_BLOCK = 1 << 20


def bom_encoding(head: bytes) -> str | None:
    for mark, encoding in _BOMS:
        if head.startswith(mark):
            return encoding
    return None


def encoding_name(encoding: str, head: bytes) -> str:
    """The name reported for a file read in `encoding` whose first bytes are `head`:
    NAMES, and "UTF-8 (BOM)" for UTF-8 behind a byte order mark."""
    if encoding == UTF8 and head.startswith(BOM):
        return UTF8_BOM_NAME
    return NAMES[encoding]


def _check_text(head: bytes, text: str, filename: str) -> None:
    """Refuse content that is not text (rule 2); `text` is `head` decoded as far as known."""
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise InputFileError(f"{filename}: not a text file: it is {what}")
    if "\x00" in text:
        raise InputFileError(
            f"{filename}: not a text file: it holds NUL bytes (a binary file, or UTF-16/UTF-32 "
            "without its byte order mark)"
        )
    controls = len(_CONTROL.findall(text))
    if controls and controls * 100 > len(text):
        raise InputFileError(
            f"{filename}: not a text file: {controls:,} of its first {len(text):,} characters "
            "are control characters"
        )


def _not_utf8(filename: str, offset: int) -> InputFileError:
    return InputFileError(
        f"{filename}: not valid UTF-8 at byte offset {offset:,}, though it holds UTF-8 text "
        "elsewhere (a damaged or mixed file; save it as UTF-8)"
    )


def _not_cp1252(filename: str, utf8_offset: int, error: UnicodeDecodeError) -> InputFileError:
    # cp1252 is stateless: error.object is the block (or the data), the byte at its offset
    byte = error.object[error.end - 1]
    return InputFileError(
        f"{filename}: not valid UTF-8 (byte offset {utf8_offset:,}) and not Windows-1252 text "
        f"(byte 0x{byte:02x} at offset {error.start:,})"
    )


def _bad_unicode(filename: str, encoding: str, offset: int) -> InputFileError:
    return InputFileError(f"{filename}: not valid {NAMES[encoding]} at byte offset {offset:,}")


def decode_prefix(data: bytes, filename: str, *, complete: bool) -> tuple[str, str]:
    """The text of `data` (the whole file, or a prefix: `complete` False) and its encoding,
    by the module's rules applied to `data` alone."""
    encoding = bom_encoding(data)
    if encoding is not None:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(data, final=complete)
        except UnicodeDecodeError as exc:
            raise _bad_unicode(filename, encoding, exc.start) from None
        _check_text(b"", text[:HEAD_BYTES], filename)  # no binary signature starts with a BOM
        return text, encoding
    _check_text(data, data[:HEAD_BYTES].decode("latin-1"), filename)
    try:
        return codecs.getincrementaldecoder(UTF8)().decode(data, final=complete), UTF8
    except UnicodeDecodeError as exc:
        utf8_offset = exc.start
    if _MULTIBYTE.search(data):
        raise _not_utf8(filename, utf8_offset)
    try:
        return data.decode(CP1252), CP1252
    except UnicodeDecodeError as exc:
        raise _not_cp1252(filename, utf8_offset, exc) from None


def _decodes(path: Path, encoding: str) -> UnicodeDecodeError | None:
    """None when the whole file decodes in `encoding`, else the error, its `start` made an
    offset into the file."""
    decoder = codecs.getincrementaldecoder(encoding)()
    base = 0  # file offset of the decoder's input: the bytes it holds back, then the block
    with path.open("rb") as handle:
        while True:
            block = handle.read(_BLOCK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                exc.start += base - pending
                return exc
            if not block:
                return None
            base += len(block)


def _has_multibyte(path: Path) -> bool:
    with path.open("rb") as handle:
        tail = b""
        while block := handle.read(_BLOCK):
            if _MULTIBYTE.search(tail + block):
                return True
            tail = block[-3:]
    return False


def file_encoding(path: Path, filename: str) -> str:
    """The encoding of the whole file at `path`, by the module's rules (read in blocks);
    InputFileError naming `filename` when it is not text in any of them."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    encoding = bom_encoding(head)
    if encoding is not None:
        decode_prefix(head, filename, complete=False)  # the text checks
        if (error := _decodes(path, encoding)) is not None:
            raise _bad_unicode(filename, encoding, error.start)
        return encoding
    _check_text(head, head.decode("latin-1"), filename)
    error = _decodes(path, UTF8)
    if error is None:
        return UTF8
    utf8_offset = error.start
    if _has_multibyte(path):
        raise _not_utf8(filename, utf8_offset)
    if (error := _decodes(path, CP1252)) is not None:
        raise _not_cp1252(filename, utf8_offset, error)
    return CP1252


def decode_as(data: bytes, encoding: str, *, complete: bool) -> str:
    """`data` (the whole file or a prefix) decoded with a known encoding."""
    return codecs.getincrementaldecoder(encoding)().decode(data, final=complete)


def decode_json_text(data: bytes, filename: str, *, complete: bool) -> str:
    """UTF-8 (BOM dropped) or InputFileError naming the byte offset."""
    try:
        return codecs.getincrementaldecoder(UTF8)().decode(data, final=complete)
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{filename}: not valid UTF-8 (byte offset {exc.start}); JSON files must be UTF-8"
        ) from None
