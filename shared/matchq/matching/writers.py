"""Result files: JSON arrays written record by record (never one big string)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from matchq.formats import Table

MATCHED_FILE = "matched_results.json"
UNMATCHED1_FILE = "unmatched_1.json"
UNMATCHED2_FILE = "unmatched_2.json"
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
    for batch in _batches(len(rows1)):
        for i, j, score, ms in zip(
            rows1[batch].tolist(),
            rows2[batch].tolist(),
            scores[batch].tolist(),
            mapping_scores[batch].tolist(),
            strict=True,
        ):
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
