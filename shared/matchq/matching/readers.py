"""Input readers: a file becomes a `Table` of text columns, or an `InputFileError`.

Every value is kept as the text the file holds (numbers are not re-formatted; JSON
numbers keep their literal text, JSON true/false/nested values become their JSON text,
spreadsheet numbers as in `matchq.headers.cell_to_str`). An empty string, a missing key
and JSON null (or NaN) are missing: `None`. Row numbers in messages are 0-based data
rows (the header is not a row); line numbers, where given, are 1-based physical lines.
Blank lines of text files, blank JSONL lines and empty spreadsheet rows are skipped.
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matchq.errors import InputFileError
from matchq.headers import (
    SNIFF_CHARS,
    TEXT_EXTENSIONS,
    cell_to_str,
    clean_header,
    decode_json_text,
    extension_of,
    read_columns,
    text_delimiter,
)

Tick = Callable[[int], None]
TICK_ROWS = 8192
# Last item of `columns` meaning "check the columns before it, keep every column".
ALL_COLUMNS: str = "\x00all columns\x00"


@dataclass
class Table:
    """Columns of one input file, each a list of text values (None when missing)."""

    name: str
    header: list[str]
    columns: dict[str, list[str | None]]
    nrows: int


def _no_tick(_rows: int) -> None:
    return None


def _select(header: list[str], wanted: list[str] | None, name: str) -> list[str]:
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


def _too_many(name: str, max_rows: int) -> InputFileError:
    return InputFileError(f"{name}: more than {max_rows:,} data rows (the limit is {max_rows:,})")


def _no_rows(name: str) -> InputFileError:
    return InputFileError(f"{name}: the file has a header but no data rows")


def _read_text(
    path: Path,
    name: str,
    ext: str,
    wanted: list[str] | None,
    max_rows: int,
    tick: Tick,
    encoding: str,
) -> Table:
    with path.open("r", encoding=encoding, newline="") as handle:
        sample = handle.read(SNIFF_CHARS + 1)
    truncated = len(sample) > SNIFF_CHARS
    if not sample.strip():
        raise InputFileError(f"{name}: the file is empty")
    delimiter = text_delimiter(ext, sample[:SNIFF_CHARS], truncated=truncated)
    with path.open("r", encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        rows: list[tuple[str, ...]] = []
        try:
            header: list[str] | None = None
            for raw in reader:
                if raw:
                    header = clean_header(raw, name)
                    break
            if header is None:
                raise InputFileError(f"{name}: the file is empty")
            selected = _select(header, wanted, name)
            positions = [header.index(col) for col in selected]
            ncols = len(header)
            append = rows.append
            for raw in reader:
                if len(raw) != ncols:
                    if not raw or (len(raw) == 1 and not raw[0].strip()):
                        continue
                    raise InputFileError(
                        f"{name}: data row {len(rows)} (line {reader.line_num}) has "
                        f"{len(raw)} fields but the header has {ncols}"
                    )
                append(tuple(raw[p] for p in positions))
                if len(rows) % TICK_ROWS == 0:
                    if len(rows) > max_rows:
                        raise _too_many(name, max_rows)
                    tick(len(rows))
        except csv.Error as exc:
            raise InputFileError(
                f"{name}: cannot parse line {reader.line_num} (data row {len(rows)}): {exc}"
            ) from None
    if len(rows) > max_rows:
        raise _too_many(name, max_rows)
    if not rows:
        raise _no_rows(name)
    columns = {
        col: [v or None for v in values]
        for col, values in zip(selected, zip(*rows, strict=True), strict=True)
    }
    return Table(name, header, columns, len(rows))


class _Number(str):
    """A JSON number kept as its literal text."""

    __slots__ = ()


def _plain(value: Any) -> Any:
    """A nested JSON value with numbers turned back into int/float, for re-serialising."""
    if isinstance(value, _Number):
        return json.loads(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _json_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return str(value) or None
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))


def _parse_constant(text: str) -> str | None:
    return None if text == "NaN" else _Number(text)


def _json_loads(text: str) -> Any:
    return json.loads(text, parse_float=_Number, parse_int=_Number, parse_constant=_parse_constant)


def _rows_to_table(
    name: str, header: list[str], selected: list[str], records: list[dict[str, Any]]
) -> Table:
    columns = {col: [_json_value(rec.get(col)) for rec in records] for col in selected}
    return Table(name, header, columns, len(records))


def _check_keys(record: Any, header_set: set[str], name: str, where: str) -> None:
    if not isinstance(record, dict):
        raise InputFileError(f"{name}: {where} is not a JSON object")
    if not record.keys() <= header_set:
        extra = next(k for k in record if k not in header_set)
        raise InputFileError(
            f"{name}: {where} has the key '{extra}', which the first object lacks "
            "(the first object's keys are the columns)"
        )


def _read_json(path: Path, name: str, wanted: list[str] | None, max_rows: int, tick: Tick) -> Table:
    data = path.read_bytes()
    header = read_columns(data, name, complete=True)
    selected = _select(header, wanted, name)
    text = decode_json_text(data, name, complete=True)
    del data
    try:
        records = _json_loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise InputFileError(f"{name}: JSON nested too deeply") from None
    del text
    if not isinstance(records, list):
        raise InputFileError(f"{name}: a .json file must hold an array of objects")
    if len(records) > max_rows:
        raise _too_many(name, max_rows)
    header_set = set(header)
    for row, record in enumerate(records):
        _check_keys(record, header_set, name, f"data row {row}")
        if row % TICK_ROWS == 0:
            tick(row)
    if not records:
        raise _no_rows(name)
    return _rows_to_table(name, header, selected, records)


def _read_jsonl(
    path: Path, name: str, wanted: list[str] | None, max_rows: int, tick: Tick
) -> Table:
    header: list[str] | None = None
    selected: list[str] = []
    header_set: set[str] = set()
    records: list[dict[str, Any]] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise InputFileError(
                    f"{name}: line {number} is not valid UTF-8; JSONL files must be UTF-8"
                ) from None
            if not line.strip():
                continue
            if header is None:
                header = read_columns(raw, name, complete=True)
                selected = _select(header, wanted, name)
                header_set = set(header)
            try:
                record = _json_loads(line)
            except json.JSONDecodeError as exc:
                raise InputFileError(
                    f"{name}: line {number} (data row {len(records)}) is not valid JSON: {exc.msg}"
                ) from None
            except RecursionError:
                raise InputFileError(f"{name}: line {number} is nested too deeply") from None
            _check_keys(record, header_set, name, f"line {number} (data row {len(records)})")
            records.append(record)
            if len(records) > max_rows:
                raise _too_many(name, max_rows)
            if len(records) % TICK_ROWS == 0:
                tick(len(records))
    if header is None:
        raise InputFileError(f"{name}: the file is empty")
    return _rows_to_table(name, header, selected, records)


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _read_xlsx(path: Path, name: str, wanted: list[str] | None, max_rows: int, tick: Tick) -> Table:
    import openpyxl  # the worker layer only

    with path.open("rb") as handle:  # a file object: openpyxl checks a path's extension
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except Exception:  # openpyxl raises many types for a broken archive
            raise InputFileError(f"{name}: not a readable .xlsx workbook") from None
        return _xlsx_rows(workbook, name, wanted, max_rows, tick)


def _xlsx_rows(
    workbook: Any, name: str, wanted: list[str] | None, max_rows: int, tick: Tick
) -> Table:
    try:
        if not workbook.worksheets:
            raise InputFileError(f"{name}: the workbook has no sheet")
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()
        rows_iter = sheet.iter_rows(values_only=True)
        header: list[str] | None = None
        first = last = 0
        positions: list[int] = []
        selected: list[str] = []
        rows: list[tuple[str | None, ...]] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for excel_row, raw in enumerate(rows_iter, start=1):
                values = [cell_to_str(v) for v in raw]
                filled = [i for i, v in enumerate(values) if v is not None and v.strip()]
                if not filled:
                    continue
                if header is None:
                    first, last = filled[0], filled[-1]
                    header = clean_header(values[first : last + 1], name)
                    selected = _select(header, wanted, name)
                    positions = [first + header.index(col) for col in selected]
                    continue
                if filled[0] < first or filled[-1] > last:
                    outside = filled[0] if filled[0] < first else filled[-1]
                    raise InputFileError(
                        f"{name}: data row {len(rows)} (sheet row {excel_row}) has a value in "
                        f"column {_column_letters(outside)}, outside the header's columns"
                    )
                width = len(values)
                rows.append(tuple(values[p] if p < width else None for p in positions))
                if len(rows) > max_rows:
                    raise _too_many(name, max_rows)
                if len(rows) % TICK_ROWS == 0:
                    tick(len(rows))
    except InputFileError:
        raise
    except Exception:
        raise InputFileError(f"{name}: the workbook's first sheet cannot be read") from None
    finally:
        workbook.close()
    if header is None:
        raise InputFileError(f"{name}: the first sheet is empty")
    if not rows:
        raise _no_rows(name)
    columns = {
        col: list(values) for col, values in zip(selected, zip(*rows, strict=True), strict=True)
    }
    return Table(name, header, columns, len(rows))


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
    keeps every column. `tick(rows_read)` is called every few thousand rows.
    """
    ext = extension_of(name)
    tick = tick or _no_tick
    try:
        size = path.stat().st_size
    except OSError:
        raise InputFileError(f"{name}: the file is missing") from None
    if size == 0:
        raise InputFileError(f"{name}: the file is empty")
    if ext in TEXT_EXTENSIONS:
        try:
            return _read_text(path, name, ext, columns, max_rows, tick, "utf-8-sig")
        except UnicodeDecodeError:
            return _read_text(path, name, ext, columns, max_rows, tick, "latin-1")
    if ext == ".json":
        return _read_json(path, name, columns, max_rows, tick)
    if ext == ".jsonl":
        return _read_jsonl(path, name, columns, max_rows, tick)
    return _read_xlsx(path, name, columns, max_rows, tick)
