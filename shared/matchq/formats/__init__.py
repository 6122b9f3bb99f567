"""File formats of uploaded tables: one module per format, the same reader for the header
probe and the full read.

- `read_columns(data, filename, complete=...)`: the header names from a file's first
  bytes; the API calls it at submit time on the first MiB (standard library only at
  import; a format needing more raises `NeedsWholeFile`, then call it with the whole file).
- `preview(data, filename, complete=...)`: a `FilePreview` (columns, the first data rows,
  format, encoding, delimiter) from the same first bytes, for `GET /files/{file_id}`; the
  same header logic, the same values as the full read (standard library, and openpyxl for
  .xlsx, which needs the whole file).
- `read_table(path, name, columns)`: the whole file as a `Table` of text columns, for the
  worker (pandas and openpyxl are imported there, when needed); the table says which
  format, encoding and delimiter were used, named as in the preview.

The user-facing file name's extension picks the format: `.csv` `.txt` (delimited text,
delimiter sniffed), `.tsv` (tab-separated), `.json` (array of objects), `.jsonl` (one
object per line), `.xlsx` (first sheet). Every error is an `InputFileError` naming the
file (and the row, line or column where one is at fault). docs/matching.md, "File
formats", has the rules.
"""

from __future__ import annotations

import dataclasses
import posixpath
from pathlib import Path
from typing import Protocol

from matchq.errors import InputFileError
from matchq.formats import delimited, json_array, json_lines, xlsx
from matchq.formats.encoding import ENCODING_NAMES
from matchq.formats.table import (
    ALL_COLUMNS,
    FilePreview,
    NeedsWholeFile,
    Table,
    Tick,
    empty_file,
    no_tick,
)

PREVIEW_ROWS = 10  # data rows in a preview at most
PREVIEW_CHARS = 200  # a longer value in a preview is cut to this many characters, then "…"
ELLIPSIS = "\u2026"


class Format(Protocol):
    """What each format module provides."""

    def read_columns(self, data: bytes, filename: str, *, complete: bool) -> list[str]: ...

    def preview(
        self, data: bytes, filename: str, *, complete: bool, max_rows: int
    ) -> FilePreview: ...

    def read_table(
        self, path: Path, name: str, columns: list[str] | None, *, max_rows: int, tick: Tick
    ) -> Table: ...


FORMATS: dict[str, Format] = {
    ".csv": delimited.SNIFFED,
    ".tsv": delimited.TAB_SEPARATED,
    ".txt": delimited.SNIFFED,
    ".xlsx": xlsx,
    ".json": json_array,
    ".jsonl": json_lines,
}
SUPPORTED_EXTENSIONS = tuple(FORMATS)
FORMAT_NAMES = tuple(ext.lstrip(".") for ext in FORMATS)  # what `format` may be
DELIMITERS = delimited.DELIMITERS

__all__ = [
    "ALL_COLUMNS",
    "DELIMITERS",
    "ENCODING_NAMES",
    "FORMAT_NAMES",
    "PREVIEW_CHARS",
    "PREVIEW_ROWS",
    "SUPPORTED_EXTENSIONS",
    "FilePreview",
    "NeedsWholeFile",
    "Table",
    "extension_of",
    "preview",
    "read_columns",
    "read_table",
]


def extension_of(filename: str) -> str:
    """The lower-case extension of `filename` ('.csv'), or raise InputFileError."""
    ext = posixpath.splitext(filename.strip().lower())[1]
    if ext not in FORMATS:
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        raise InputFileError(
            f"{filename}: unsupported file type '{ext or '(none)'}'; use one of {supported}"
        )
    return ext


def read_columns(data: bytes, filename: str, *, complete: bool) -> list[str]:
    """The header column names of the file `filename` whose first bytes are `data`.

    `complete` tells whether `data` is the whole file. Raises `InputFileError` naming the
    file for an unsupported extension, an empty file, blank or repeated names or content
    that does not parse; `NeedsWholeFile` when `data` is a prefix that does not suffice
    (always for .xlsx).
    """
    fmt = FORMATS[extension_of(filename)]
    if complete and not data.strip():
        raise empty_file(filename)
    return fmt.read_columns(data, filename, complete=complete)


def _capped(value: str | None, max_chars: int) -> str | None:
    if value is None or len(value) <= max_chars:
        return value
    return value[:max_chars] + ELLIPSIS


def preview(
    data: bytes,
    filename: str,
    *,
    complete: bool,
    max_rows: int = PREVIEW_ROWS,
    max_chars: int = PREVIEW_CHARS,
) -> FilePreview:
    """The columns, first data rows, format, encoding and delimiter of the file `filename`
    whose first bytes are `data` (`complete`: the whole file), read as the worker reads it.

    At most `max_rows` rows, those `data` holds whole (a row the prefix cuts is left out);
    a value longer than `max_chars` characters is cut to them followed by "…". Errors as
    `read_columns` raises them, and `InputFileError` for a row within those read that the
    worker would refuse (a wrong field count, a key the first object lacks, bad JSON).
    `NeedsWholeFile` when `data` is a prefix that does not hold the header (always for
    .xlsx).
    """
    fmt = FORMATS[extension_of(filename)]
    if complete and not data.strip():
        raise empty_file(filename)
    found = fmt.preview(data, filename, complete=complete, max_rows=max_rows)
    rows = [{col: _capped(value, max_chars) for col, value in row.items()} for row in found.rows]
    return dataclasses.replace(found, rows=rows)


def read_table(
    path: Path,
    name: str,
    columns: list[str] | None = None,
    *,
    max_rows: int = 1_000_000,
    tick: Tick | None = None,
) -> Table:
    """Read the file at `path`, whose user-facing name `name` decides the format.

    `columns` (None for all) are the columns kept; naming a column the header lacks is an
    InputFileError. Ending `columns` with `ALL_COLUMNS` checks the names before it but
    keeps every column. `tick(rows_read)` is called every few thousand rows. The limits of
    `matchq.formats.limits` apply.
    """
    fmt = FORMATS[extension_of(name)]
    try:
        size = path.stat().st_size
    except OSError:
        raise InputFileError(f"{name}: the file is missing") from None
    if size == 0:
        raise empty_file(name)
    if fmt is not xlsx and fmt is not json_array:
        _check_text_limits(fmt, path, name, size)
    return fmt.read_table(path, name, columns, max_rows=max_rows, tick=tick or no_tick)


def _check_text_limits(fmt: Format, path: Path, name: str, size: int) -> None:
    """Line length, and lines x header columns, before a text file is parsed."""
    from matchq.formats.limits import check_line_lengths, read_limits, too_many_cells

    limits = read_limits()
    lines = check_line_lengths(path, name, limits.max_line_bytes)
    with path.open("rb") as handle:
        head = handle.read(delimited.PROBE_BYTES)  # what the API's header probe reads
    try:
        columns = len(fmt.read_columns(head, name, complete=len(head) >= size))
    except (NeedsWholeFile, InputFileError):
        return  # the reader reports what is wrong with the header
    if (lines - 1) * columns > limits.max_cells:
        raise too_many_cells(name, lines - 1, columns, limits.max_cells)
