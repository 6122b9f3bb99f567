""".json: an array of objects, UTF-8. One reader for the header probe and the full read.

The header is the keys of the first object, found by parsing only that object (so a
prefix of the file suffices); the full read parses the whole array and checks every row
against those keys (`matchq.formats.json_values`).
"""

from __future__ import annotations

import json
from pathlib import Path

from matchq.errors import InputFileError
from matchq.formats import json_values
from matchq.formats.encoding import decode_json_text
from matchq.formats.table import (
    TICK_ROWS,
    NeedsWholeFile,
    Table,
    Tick,
    choose_columns,
    empty_file,
    no_rows,
    too_many_rows,
)


def _invalid(name: str, exc: json.JSONDecodeError) -> InputFileError:
    return InputFileError(
        f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    )


def _header(text: str, filename: str, *, complete: bool) -> list[str]:
    pos = len(text) - len(text.lstrip())
    if pos == len(text):
        if complete:
            raise empty_file(filename)
        raise NeedsWholeFile(f"{filename}: no JSON content in the bytes read")
    if text[pos] != "[":
        raise InputFileError(f"{filename}: a .json file must hold an array of objects")
    pos += 1
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos < len(text) and text[pos] == "]":
        raise InputFileError(f"{filename}: the array holds no rows")
    try:
        first, _ = json_values.parse_first(text, pos)
    except json.JSONDecodeError as exc:
        if not complete:
            raise NeedsWholeFile(
                f"{filename}: the first object is longer than the bytes read"
            ) from None
        raise _invalid(filename, exc) from None
    return json_values.first_object_keys(first, filename, "row 0")


def read_columns(data: bytes, filename: str, *, complete: bool) -> list[str]:
    """The header names, from the file's first bytes (`complete`: all of them)."""
    return _header(decode_json_text(data, filename, complete=complete), filename, complete=complete)


def read_table(
    path: Path, name: str, columns: list[str] | None, *, max_rows: int, tick: Tick
) -> Table:
    """Read the whole file; `columns` as `matchq.formats.read_table` takes them."""
    text = decode_json_text(path.read_bytes(), name, complete=True)
    header = _header(text, name, complete=True)
    selected = choose_columns(header, columns, name)
    try:
        records = json_values.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(name, exc) from None
    except RecursionError:
        raise InputFileError(f"{name}: JSON nested too deeply") from None
    del text
    if not isinstance(records, list):
        raise InputFileError(f"{name}: a .json file must hold an array of objects")
    if len(records) > max_rows:
        raise too_many_rows(name, max_rows)
    header_set = set(header)
    for row, record in enumerate(records):
        json_values.check_keys(record, header_set, name, f"data row {row}")
        if row % TICK_ROWS == 0:
            tick(row)
    if not records:
        raise no_rows(name)
    return json_values.table_of(name, header, selected, records)
