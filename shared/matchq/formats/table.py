"""What every reader returns, and the rules every format shares.

A file becomes a `Table` of text columns or an `InputFileError` naming the file (and,
where it applies, the row, line and column). Values are the texts the file holds; an
empty one is None. Header names are checked the same way in every format (none blank,
none repeated). Row numbers in messages are 0-based data rows (the header is not a row);
line numbers are 1-based physical lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from matchq.errors import InputFileError

Tick = Callable[[int], None]
TICK_ROWS = 8192  # readers call tick(rows_read) about this often
# Last item of `columns` meaning "check the columns before it, keep every column".
ALL_COLUMNS: str = "\x00all columns\x00"


class NeedsWholeFile(InputFileError):
    """The bytes given are not enough to read the header: fetch the whole file and retry."""


@dataclass
class Table:
    """Columns of one input file, each a list of text values (None when missing).

    `format`, `encoding` and `delimiter` say how the file was read, as `FilePreview` does
    (every reader sets them; None only in tables built by hand).
    """

    name: str
    header: list[str]
    columns: dict[str, list[str | None]]
    nrows: int
    format: str | None = None  # "csv" "tsv" "txt" "json" "jsonl" "xlsx": the extension
    encoding: str | None = None  # an ENCODING_NAMES value; None for xlsx
    delimiter: str | None = None  # "," ";" "\t" "|"; None unless delimited text


Row = dict[str, str | None]


@dataclass(frozen=True)
class FilePreview:
    """The first data rows of a file and how it is read, from its first bytes.

    `format` is the file name's extension without the dot ("csv", "tsv", "txt", "json",
    "jsonl", "xlsx"); `encoding` one of `ENCODING_NAMES` ("UTF-8", "UTF-8 (BOM)",
    "UTF-16", "UTF-32", "Windows-1252"), None for xlsx; `delimiter` the delimiter of
    delimited text ("," ";" "\t" "|"), else None. `rows` are data rows keyed by every
    header column, values as the worker reads them (None when empty).
    """

    format: str
    encoding: str | None
    delimiter: str | None
    columns: list[str]
    rows: list[Row]


def no_tick(_rows: int) -> None:
    return None


def clean_header(names: Iterable[Any], filename: str, *, strip: bool = True) -> list[str]:
    """Header names as strings, checked: none blank, none repeated."""
    out: list[str] = []
    seen: set[str] = set()
    for position, raw in enumerate(names):
        name = "" if raw is None else str(raw)
        if strip:
            name = name.strip()
        if not name.strip():
            raise InputFileError(
                f"{filename}: column {position + 1} of the header has a blank name"
            )
        if name in seen:
            raise InputFileError(f"{filename}: column name '{name}' appears twice in the header")
        seen.add(name)
        out.append(name)
    if not out:
        raise InputFileError(f"{filename}: the header row is empty")
    return out


def choose_columns(header: list[str], wanted: list[str] | None, name: str) -> list[str]:
    """The columns kept: `wanted` (each checked against the header), all when None."""
    if wanted is None:
        return list(header)
    all_columns = bool(wanted) and wanted[-1] is ALL_COLUMNS
    if all_columns:
        wanted = wanted[:-1]
    known = set(header)
    for col in wanted:
        if col not in known:
            shown = ", ".join(f"'{h}'" for h in header[:30])
            more = ", ..." if len(header) > 30 else ""
            raise InputFileError(f"{name}: no column '{col}' (the columns are {shown}{more})")
    return list(header) if all_columns else list(dict.fromkeys(wanted))


def too_many_rows(name: str, max_rows: int) -> InputFileError:
    return InputFileError(f"{name}: more than {max_rows:,} data rows (the limit is {max_rows:,})")


def no_rows(name: str) -> InputFileError:
    return InputFileError(f"{name}: the file has a header but no data rows")


def empty_file(name: str) -> InputFileError:
    return InputFileError(f"{name}: the file is empty")
