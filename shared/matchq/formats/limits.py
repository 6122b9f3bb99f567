"""Resource limits of the worker's readers: settings (MATCHQ_* variables) with defaults.

Each limit fails the job with an `InputFileError` naming the file, the place and the
setting, before the reader commits memory to the input:

- `MATCHQ_MAX_LINE_BYTES` (16 MiB): the longest line of a delimited or JSON-lines file,
  checked in one pass over 8 MiB blocks before parsing (a 150 MB file of one line would
  otherwise be parsed as one huge field). A `.json` array may be one line; it is read by a
  streaming parser and is not checked.
- `MATCHQ_XLSX_MAX_PART_BYTES` (1 GiB), `MATCHQ_XLSX_MAX_TOTAL_BYTES` (2 GiB),
  `MATCHQ_XLSX_MAX_RATIO` (200): what a workbook's parts would inflate to, from the zip's
  central directory before anything is inflated (the ratio applies to parts of 1 MiB and more).
- `MATCHQ_MAX_FIELD_CHARS` (131,072, the csv module's default): the longest field of a
  delimited file (a quoted field may span lines, so the line limit alone does not bound it).
- `MATCHQ_MAX_CELLS` (100,000,000): rows x header columns of a file. For delimited and
  JSON-lines files the line count of the length check times the header's columns is
  checked before parsing (an upper bound: a quoted field may span lines); a sheet is checked
  as its rows are read.
- `MATCHQ_XLSX_MAX_BLANK_ROWS` (100,000): blank rows in a row on a sheet (a sheet of a
  million empty rows would otherwise hold a worker for minutes).

The row limit (`MATCHQ_MAX_ROWS`) is the worker's setting and is passed to every reader.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field

from matchq.errors import InputFileError
from matchq.settings import _Settings, load_settings

BLOCK_BYTES = 8 << 20


class ReadLimits(_Settings):
    max_line_bytes: int = Field(default=16 << 20, ge=1024)
    max_cells: int = Field(default=100_000_000, ge=1)
    max_field_chars: int = Field(default=128 << 10, ge=1024)
    xlsx_max_part_bytes: int = Field(default=1 << 30, ge=1)
    xlsx_max_total_bytes: int = Field(default=2 << 30, ge=1)
    xlsx_max_ratio: float = Field(default=200.0, gt=1)
    xlsx_max_blank_rows: int = Field(default=100_000, ge=1)


@cache
def read_limits() -> ReadLimits:
    """The limits of this process, read once from its environment."""
    return load_settings(ReadLimits)


def check_line_lengths(path: Path, name: str, limit: int) -> int:
    """The number of lines of the file (ended by \\n, \\r or \\r\\n); InputFileError when
    one is longer than `limit` bytes. Memory stays at one block."""
    import numpy as np

    line = 1  # number of the line the current run belongs to
    run = 0  # bytes of that line seen so far
    after_cr = False  # the previous block ended with \r (a \n next ends no other line)
    with path.open("rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            data = np.frombuffer(block, dtype=np.uint8)
            cr = data == 13
            lf = data == 10
            lf[1:] &= ~cr[:-1]
            if after_cr:
                lf[0] = False
            ends = np.flatnonzero(cr | lf)
            after_cr = bool(cr[-1])
            if ends.size:
                lengths = np.diff(ends, prepend=-1) - 1
                lengths[0] += run
                longest = int(np.argmax(lengths))
                if int(lengths[longest]) > limit:
                    raise _too_long(name, line + longest, limit)
                line += int(ends.size)
                run = len(block) - 1 - int(ends[-1])
            else:
                run += len(block)
            if run > limit:
                raise _too_long(name, line, limit)
    return line if run else line - 1


def too_many_cells(name: str, rows: int, columns: int, limit: int) -> InputFileError:
    return InputFileError(
        f"{name}: {rows:,} rows x {columns:,} columns is more than {limit:,} cells (the limit,"
        " MATCHQ_MAX_CELLS)"
    )


def _too_long(name: str, line: int, limit: int) -> InputFileError:
    return InputFileError(
        f"{name}: line {line:,} is longer than {limit:,} bytes (the limit, MATCHQ_MAX_LINE_BYTES)"
    )
