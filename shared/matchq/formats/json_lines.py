""".jsonl: one JSON object per line, UTF-8; blank lines are skipped. One reader for the
header probe and the full read: the header is the keys of the first object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    too_many_rows,
)


def _first_line_keys(line: str, number: int, filename: str) -> list[str]:
    try:
        obj = json.loads(line, object_pairs_hook=json_values.Pairs)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{filename}: line {number} is not valid JSON ({exc.msg})") from None
    return json_values.first_object_keys(obj, filename, f"line {number}")


def read_columns(data: bytes, filename: str, *, complete: bool) -> list[str]:
    """The header names, from the file's first bytes (`complete`: all of them)."""
    text = decode_json_text(data, filename, complete=complete)
    lines = text.splitlines()
    if not complete and not (text.endswith("\n") or text.endswith("\r")) and lines:
        last_partial: str | None = lines.pop()
    else:
        last_partial = None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            return _first_line_keys(line, number, filename)
    if last_partial is not None and last_partial.strip():
        raise NeedsWholeFile(f"{filename}: the first line is longer than the bytes read")
    if not complete:
        raise NeedsWholeFile(f"{filename}: no JSON line in the bytes read")
    raise empty_file(filename)


def _parse_line(line: str, number: int, row: int, name: str) -> Any:
    try:
        return json_values.loads(line)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{name}: line {number} (data row {row}) is not valid JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise InputFileError(f"{name}: line {number} is nested too deeply") from None


def preview(data: bytes, filename: str, *, complete: bool, max_rows: int) -> FilePreview:
    """The header and first data rows, from the file's first bytes (`complete`: all); a
    last line the bytes cut is left out."""
    header = read_columns(data, filename, complete=complete)
    header_set = set(header)
    lines = decode_json_text(data, filename, complete=complete).split("\n")
    if not complete:
        lines.pop()  # cut, or empty after the last line break
    rows: list[Row] = []
    for number, line in enumerate(lines, start=1):
        if len(rows) >= max_rows:
            break
        if not line.strip():
            continue
        record = _parse_line(line, number, len(rows), filename)
        where = f"line {number} (data row {len(rows)})"
        json_values.check_keys(record, header_set, filename, where)
        rows.append(json_values.row_of(record, header))
    return FilePreview(
        format="jsonl",
        encoding=encoding_name(UTF8, data),
        delimiter=None,
        columns=header,
        rows=rows,
    )


def read_table(
    path: Path, name: str, columns: list[str] | None, *, max_rows: int, tick: Tick
) -> Table:
    """Read the whole file; `columns` as `matchq.formats.read_table` takes them."""
    header: list[str] | None = None
    selected: list[str] = []
    header_set: set[str] = set()
    records: list[dict[str, Any]] = []
    reported = encoding_name(UTF8, b"")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise InputFileError(
                    f"{name}: line {number} is not valid UTF-8; JSONL files must be UTF-8"
                ) from None
            if number == 1:
                reported = encoding_name(UTF8, raw[: len(BOM)])
            if not line.strip():
                continue
            if header is None:
                header = read_columns(raw, name, complete=True)
                selected = choose_columns(header, columns, name)
                header_set = set(header)
            record = _parse_line(line, number, len(records), name)
            where = f"line {number} (data row {len(records)})"
            json_values.check_keys(record, header_set, name, where)
            records.append(record)
            if len(records) > max_rows:
                raise too_many_rows(name, max_rows)
            if len(records) % TICK_ROWS == 0:
                tick(len(records))
    if header is None:
        raise empty_file(name)
    return json_values.table_of(name, header, selected, records, format="jsonl", encoding=reported)
