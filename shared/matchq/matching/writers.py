"""Result files, written record by record (never one big string), in the job's format.

- json: JSON arrays of records, one per line (docs/matching.md, "Result files").
- csv and xlsx: one header row, then the columns of docs/matching.md ("Result files"):
  `file1_row`, `file2_row`, `score`, `score_<i>` per mapping, `file1.<col>`, `file2.<col>`.
  A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
  `'` (spreadsheet formula injection). csv is UTF-8 with a BOM (so spreadsheets read it as
  UTF-8), RFC 4180 quoting and CRLF line ends; xlsx is written with xlsxwriter in constant
  memory, one sheet, at most EXCEL_MAX_ROWS rows with the header.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from matchq.config import OutputFormat
from matchq.errors import InputFileError
from matchq.formats import Table

MATCHED_FILE = "matched_results.json"
UNMATCHED1_FILE = "unmatched_1.json"
UNMATCHED2_FILE = "unmatched_2.json"
SUMMARY_FILE = "summary.json"
EXCEL_MAX_ROWS = 1_048_576  # rows of one sheet, the header row included
EXCEL_MAX_CELL_CHARS = 32_767  # longer texts are cut: Excel holds no more in a cell
FORMULA_START = frozenset("=+-@\t\r")
WRITE_BATCH = 2000
LIST_BATCH = 65536  # pairs turned into Python objects at a time

_encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


def round_score(value: float) -> float | None:
    """A score as written: 4 decimals; NaN (mapping left out of the mean) becomes null."""
    return None if math.isnan(value) else round(value, 4)


def write_array(path: Path, records: Iterable[Any], tick: Callable[[int], None]) -> int:
    """Write `records` as a JSON array, one record per line; returns how many were written."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[")
        buffer: list[str] = []
        for record in records:
            buffer.append(_encode(record))
            count += 1
            if len(buffer) >= WRITE_BATCH:
                handle.write(("\n" if count == len(buffer) else ",\n") + ",\n".join(buffer))
                buffer.clear()
                tick(count)
        if buffer:
            handle.write(("\n" if count == len(buffer) else ",\n") + ",\n".join(buffer))
        handle.write("\n]\n" if count else "]\n")
    return count


def _row_dicts(table: Table, cols: list[str]) -> Callable[[int], dict[str, str | None]]:
    columns = [table.columns[c] for c in cols]

    def row(i: int) -> dict[str, str | None]:
        return {c: values[i] for c, values in zip(cols, columns, strict=True)}

    return row


def _batches(n: int) -> Iterable[slice]:
    """Slices of LIST_BATCH items: arrays become Python objects one batch at a time."""
    for start in range(0, n, LIST_BATCH):
        yield slice(start, min(n, start + LIST_BATCH))


def _pair_batches(
    rows1: np.ndarray, rows2: np.ndarray, scores: np.ndarray, mapping_scores: np.ndarray
) -> Iterable[Iterable[tuple[int, int, float, list[float]]]]:
    """The pairs of the arrays as Python values, one batch of LIST_BATCH at a time."""
    for batch in _batches(len(rows1)):
        yield zip(
            rows1[batch].tolist(),
            rows2[batch].tolist(),
            scores[batch].tolist(),
            mapping_scores[batch].tolist(),
            strict=True,
        )


def matched_records(
    rows1: np.ndarray,
    rows2: np.ndarray,
    scores: np.ndarray,
    mapping_scores: np.ndarray,
    table1: Table,
    cols1: list[str],
    table2: Table,
    cols2: list[str],
) -> Iterable[dict[str, Any]]:
    """Records of matched_results.json, in the order of the arrays."""
    row1 = _row_dicts(table1, cols1)
    row2 = _row_dicts(table2, cols2)
    for pairs in _pair_batches(rows1, rows2, scores, mapping_scores):
        for i, j, score, ms in pairs:
            yield {
                "file1_row": i,
                "file2_row": j,
                "score": round(score, 4),
                "mapping_scores": [round_score(s) for s in ms],
                "file1": row1(i),
                "file2": row2(j),
            }


def unmatched_records(
    rows: np.ndarray, side: int, table: Table, cols: list[str]
) -> Iterable[dict[str, Any]]:
    """Records of unmatched_1.json (side 1) or unmatched_2.json (side 2)."""
    row = _row_dicts(table, cols)
    key = f"file{side}_row"
    data_key = f"file{side}"
    for batch in _batches(len(rows)):
        for i in rows[batch].tolist():
            yield {key: i, data_key: row(i)}


def result_names(fmt: OutputFormat) -> tuple[str, str, str]:
    """The names of matched_results, unmatched_1 and unmatched_2 in format `fmt`."""
    return tuple(  # type: ignore[return-value]
        name.replace(".json", f".{fmt.value}")
        for name in (MATCHED_FILE, UNMATCHED1_FILE, UNMATCHED2_FILE)
    )


# --- csv and xlsx ------------------------------------------------------------------------

Cell = int | float | str | None


def neutralise(text: str) -> str:
    """A text cell as written to csv and xlsx: a leading `'` when a spreadsheet would take
    it for a formula."""
    return "'" + text if text and text[0] in FORMULA_START else text


def matched_header(mappings: int, cols1: list[str], cols2: list[str]) -> list[str]:
    return [
        "file1_row",
        "file2_row",
        "score",
        *(f"score_{i}" for i in range(mappings)),
        *(f"file1.{c}" for c in cols1),
        *(f"file2.{c}" for c in cols2),
    ]


def unmatched_header(side: int, cols: list[str]) -> list[str]:
    return [f"file{side}_row", *(f"file{side}.{c}" for c in cols)]


def _texts(table: Table, cols: list[str]) -> list[list[str | None]]:
    return [[None if v is None else neutralise(v) for v in table.columns[c]] for c in cols]


def matched_rows(
    rows1: np.ndarray,
    rows2: np.ndarray,
    scores: np.ndarray,
    mapping_scores: np.ndarray,
    table1: Table,
    cols1: list[str],
    table2: Table,
    cols2: list[str],
) -> Iterable[list[Cell]]:
    """Rows of matched_results.csv/.xlsx in the order of the arrays: the values of the json
    records (scores rounded alike, a left-out mapping empty), texts neutralised."""
    texts1 = _texts(table1, cols1)
    texts2 = _texts(table2, cols2)
    for pairs in _pair_batches(rows1, rows2, scores, mapping_scores):
        for i, j, score, ms in pairs:
            yield [
                i,
                j,
                round(score, 4),
                *[round_score(s) for s in ms],
                *[values[i] for values in texts1],
                *[values[j] for values in texts2],
            ]


def unmatched_rows(rows: np.ndarray, table: Table, cols: list[str]) -> Iterable[list[Cell]]:
    """Rows of unmatched_1/unmatched_2 in csv/xlsx: the row number, then its texts."""
    texts = _texts(table, cols)
    for batch in _batches(len(rows)):
        for i in rows[batch].tolist():
            yield [i, *[values[i] for values in texts]]


def write_csv(
    path: Path, header: Sequence[str], rows: Iterable[list[Cell]], tick: Callable[[int], None]
) -> int:
    """Write a csv file (UTF-8 with BOM, CRLF); returns the data rows written."""
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow([neutralise(h) for h in header])
        buffer: list[list[Cell]] = []
        for row in rows:
            buffer.append(row)
            if len(buffer) >= WRITE_BATCH:
                writer.writerows(buffer)
                count += len(buffer)
                buffer.clear()
                tick(count)
        writer.writerows(buffer)
        count += len(buffer)
    return count


def check_sheet_rows(name: str, rows: int) -> None:
    """Fail before writing when `rows` records do not fit one sheet with its header."""
    if rows + 1 > EXCEL_MAX_ROWS:
        raise InputFileError(
            f"{name} would hold {rows:,} rows, more than an Excel sheet holds "
            f"({EXCEL_MAX_ROWS - 1:,} after the header); use output_format csv or json"
        )


def write_xlsx(
    path: Path, header: Sequence[str], rows: Iterable[list[Cell]], tick: Callable[[int], None]
) -> int:
    """Write an xlsx workbook of one sheet, row by row in constant memory; returns the data
    rows written. Texts longer than a cell holds are cut to EXCEL_MAX_CELL_CHARS."""
    import xlsxwriter  # the worker only: xlsx results

    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    try:
        sheet = workbook.add_worksheet(path.stem[:31])
        bold = workbook.add_format({"bold": True})
        sheet.write_row(0, 0, [neutralise(h)[:EXCEL_MAX_CELL_CHARS] for h in header], bold)
        sheet.freeze_panes(1, 0)
        count = 0
        write_string, write_number = sheet.write_string, sheet.write_number
        for row in rows:
            count += 1
            for col, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, str):
                    write_string(count, col, value[:EXCEL_MAX_CELL_CHARS])
                else:
                    write_number(count, col, value)
            if count % WRITE_BATCH == 0:
                tick(count)
    finally:
        workbook.close()
    return count
