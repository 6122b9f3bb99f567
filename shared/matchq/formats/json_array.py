""".json: an array of objects, UTF-8. One reader for the header probe and the full read.

The header is the keys of the first object, found by parsing only that object (so a
prefix of the file suffices); the full read parses the whole array and checks every row
against those keys (`matchq.formats.json_values`). The preview parses the first objects
one by one, as far as the bytes given hold whole ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from matchq.errors import InputFileError
from matchq.formats import json_values
from matchq.formats.encoding import BOM, UTF8, decode_json_text, encoding_name
from matchq.formats.table import (
    TICK_ROWS,
    FilePreview,
    NeedsWholeFile,
    Row,
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


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


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


def _first_rows(
    text: str, header: list[str], filename: str, *, complete: bool, max_rows: int
) -> list[Row]:
    """The first `max_rows` objects of the array, as the full read reads them. In a prefix
    (`complete` False) the rows stop at the first object that does not parse: the one the
    prefix cuts (the full read reports a syntax error there, if it is one)."""
    header_set = set(header)
    rows: list[Row] = []
    pos = _skip_space(text, text.index("[") + 1)
    while len(rows) < max_rows:
        try:
            record, pos = json_values.decode_next(text, pos)
        except json.JSONDecodeError as exc:
            if not complete:
                break
            raise _invalid(filename, exc) from None
        except RecursionError:
            raise InputFileError(f"{filename}: JSON nested too deeply") from None
        json_values.check_keys(record, header_set, filename, f"data row {len(rows)}")
        rows.append(json_values.row_of(record, header))
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
        elif pos < len(text) and text[pos] == "]":
            break
        elif complete or pos < len(text):
            # the message the full read's parser gives there
            raise _invalid(filename, json.JSONDecodeError("Expecting ',' delimiter", text, pos))
        else:
            break  # the prefix ends after this object
    return rows


def preview(data: bytes, filename: str, *, complete: bool, max_rows: int) -> FilePreview:
    """The header and first data rows, from the file's first bytes (`complete`: all)."""
    text = decode_json_text(data, filename, complete=complete)
    header = _header(text, filename, complete=complete)
    rows = _first_rows(text, header, filename, complete=complete, max_rows=max_rows)
    return FilePreview(
        format="json",
        encoding=encoding_name(UTF8, data),
        delimiter=None,
        columns=header,
        rows=rows,
    )


def read_table(
    path: Path, name: str, columns: list[str] | None, *, max_rows: int, tick: Tick
) -> Table:
    """Read the whole file; `columns` as `matchq.formats.read_table` takes them."""
    data = path.read_bytes()
    text = decode_json_text(data, name, complete=True)
    reported = encoding_name(UTF8, data[: len(BOM)])
    del data
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
    return json_values.table_of(name, header, selected, records, format="json", encoding=reported)
