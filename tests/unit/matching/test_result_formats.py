"""Result files as csv and xlsx: the json results' values, formula cells neutralised,
unicode and empty values kept, Excel's row limit, and bounded memory while streaming."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest

from matchq.config import MatchConfig, OutputFormat
from matchq.errors import InputFileError
from matchq.formats import Table
from matchq.matching import run_match, writers

FILE_ID = "file_12345678-1234-4123-8123-123456789012"
TRICKY = ["=1+1", "+49 30 1234", "-5", "@SUM(A1)", "\tTab", "\rCR", "a=b", "'quoted", "Zoë 東京"]

CSV1 = (
    "id,name,note\n"
    '1,John Smith,=HYPERLINK("http://x")\n'
    "2,Anna Berg,\n"
    "3,Zoë Östlund,+49 30 1234\n"
    '4,Zed Zulu,"-5, or @SUM(A1)"\n'
    "5,東京 太郎,\t tab first\n"
)
CSV2 = "full_name,=danger\nSmith John,@x\nAnna Bergg,\nZoe Ostlund,東京\nNobody,-1\n"


def config(fmt: str, **kwargs: Any) -> MatchConfig:
    base: dict[str, Any] = {
        "file1": FILE_ID, "file2": FILE_ID,
        "mappings": [
            {"file1_col": "name", "file2_col": "full_name"},
            {"file1_col": "note", "file2_col": "=danger", "weight": 0.5},
        ],
        "threshold": 60,
        "output_format": fmt,
    }  # fmt: skip
    base.update(kwargs)
    return MatchConfig(**base)


def run(tmp_path: Path, fmt: str, **kwargs: Any) -> Path:
    f1, f2 = tmp_path / "in1", tmp_path / "in2"
    f1.write_text(CSV1, encoding="utf-8")
    f2.write_text(CSV2, encoding="utf-8")
    out = tmp_path / f"out-{fmt}"
    run_match(config(fmt, **kwargs), f1, f2, out, file1_name="a.csv", file2_name="b.csv")
    return out


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """A json record as the csv/xlsx columns name it, texts neutralised as they are written."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "mapping_scores":
            flat.update({f"score_{i}": s for i, s in enumerate(value)})
        elif isinstance(value, dict):
            flat.update(
                {
                    f"{key}.{c}": None if v is None else writers.neutralise(v)
                    for c, v in value.items()
                }
            )
        else:
            flat[key] = value
    return flat


def read_csv(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read it as UTF-8
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def read_xlsx(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    book.close()
    header = [str(h) for h in rows[0]]
    return header, [dict(zip(header, row, strict=True)) for row in rows[1:]]


def as_csv_text(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


NAMES = {"matched_results", "unmatched_1", "unmatched_2"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_tabular_results_equal_the_json_results(tmp_path: Path, fmt: str) -> None:
    json_out = run(tmp_path, "json")
    out = run(tmp_path, fmt)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(f"{n}.{fmt}" for n in NAMES), "summary.json"]
    )
    for name in NAMES:
        expected = [flatten(r) for r in json.loads((json_out / f"{name}.json").read_text())]
        assert expected, name
        if fmt == "csv":
            got = read_csv(out / f"{name}.csv")
            assert got == [{k: as_csv_text(v) for k, v in r.items()} for r in expected]
        else:
            header, got = read_xlsx(out / f"{name}.xlsx")
            assert header == [writers.neutralise(k) for k in expected[0]]
            assert got == [{writers.neutralise(k): v for k, v in r.items()} for r in expected]
    # summary.json is the same whatever the format, timings aside
    summaries = [json.loads((d / "summary.json").read_text()) for d in (json_out, out)]
    for s in summaries:
        s.pop("timings")
    assert summaries[0] == summaries[1]


def test_matched_columns_in_documented_order(tmp_path: Path) -> None:
    out = run(tmp_path, "csv", output_cols1=["note", "id"], output_cols2=["full_name"])
    with (out / "matched_results.csv").open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == [
        "file1_row", "file2_row", "score", "score_0", "score_1",
        "file1.note", "file1.id", "file2.full_name",
    ]  # fmt: skip
    with (out / "unmatched_2.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle)) == ["file2_row", "file2.full_name"]


def test_formula_cells_get_a_leading_quote(tmp_path: Path) -> None:
    assert [writers.neutralise(t) for t in TRICKY] == [
        "'=1+1", "'+49 30 1234", "'-5", "'@SUM(A1)", "'\tTab", "'\rCR", "a=b", "'quoted",
        "Zoë 東京",
    ]  # fmt: skip
    out = run(tmp_path, "xlsx", threshold=0, match_mode="all")
    header, rows = read_xlsx(out / "matched_results.xlsx")
    assert "file2.=danger" in header  # starts with 'f': safe as it is
    texts = {v for row in rows for v in row.values() if isinstance(v, str)}
    assert '\'=HYPERLINK("http://x")' in texts
    assert "'@x" in texts
    assert not any(t[0] in "=+-@\t\r" for t in texts)
    book = openpyxl.load_workbook(out / "matched_results.xlsx")  # not read-only: cell types
    cells = [c for row in book.active.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type in ("s", "n") for c in cells)  # never a formula ("f")
    assert {c.data_type for c in cells if c.column <= 3 and c.row > 1} == {"n"}


def test_numbers_stay_numbers_and_empty_stays_empty(tmp_path: Path) -> None:
    out = run(tmp_path, "xlsx")
    _, rows = read_xlsx(out / "unmatched_1.xlsx")
    assert all(isinstance(r["file1_row"], int) for r in rows)
    json_rows = json.loads((run(tmp_path, "json") / "unmatched_1.json").read_text())
    for got, want in zip(rows, json_rows, strict=True):
        assert got["file1.note"] == (None if want["file1"]["note"] is None else
                                     writers.neutralise(want["file1"]["note"]))  # fmt: skip


def test_xlsx_over_the_sheet_limit_fails_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "EXCEL_MAX_ROWS", 3)  # header + 2 rows
    with pytest.raises(
        InputFileError,
        match=r"matched_results\.xlsx would hold 3 rows, more than"
        r" an Excel sheet holds \(2 after the header\); use output_format csv",
    ):
        run(tmp_path, "xlsx")
    assert not any((tmp_path / "out-xlsx").glob("*"))
    run(tmp_path, "xlsx", generate_unmatched=False, threshold=95)  # 2 pairs or fewer: fits
    assert (tmp_path / "out-xlsx" / "matched_results.xlsx").exists()


def test_result_names() -> None:
    assert writers.result_names(OutputFormat.CSV) == (
        "matched_results.csv", "unmatched_1.csv", "unmatched_2.csv",
    )  # fmt: skip


def big_result(n: int, rows: int = 1000) -> tuple[tuple[np.ndarray, ...], Table, Table]:
    """n pairs over tables of `rows` rows: the result grows, the tables do not."""
    values = [f"name {i:07d}" for i in range(rows)]
    table = Table("t.csv", ["name"], {"name": values}, rows)  # type: ignore[dict-item]
    rows1 = np.arange(n, dtype=np.int64) % rows
    scores = np.full(n, 87.5)
    return (rows1, rows1[::-1].copy(), scores, np.full((n, 2), 91.25)), table, table


def peak_writing(path: Path, n: int) -> tuple[int, int]:
    """(rows written, peak traced bytes) for a result of n pairs in path's format."""
    arrays, t1, t2 = big_result(n)
    write = writers.write_csv if path.suffix == ".csv" else writers.write_xlsx
    ticks: list[int] = []
    tracemalloc.start()
    try:
        count = write(
            path, writers.matched_header(2, ["name"], ["name"]),
            writers.matched_rows(*arrays, t1, ["name"], t2, ["name"]), ticks.append,
        )  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ticks == sorted(ticks) and ticks[-1] >= n - writers.WRITE_BATCH
    return count, peak


@pytest.mark.parametrize(("fmt", "small", "big"), [("csv", 40_000, 160_000),
                                                   ("xlsx", 8_000, 32_000)])  # fmt: skip
def test_big_results_stream_in_bounded_memory(
    tmp_path: Path, fmt: str, small: int, big: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "LIST_BATCH", 4096)  # smaller than both results
    count, peak_small = peak_writing(tmp_path / f"small.{fmt}", small)
    assert count == small
    count, peak_big = peak_writing(tmp_path / f"big.{fmt}", big)
    assert count == big
    # 4x the pairs, about the same peak: one batch of LIST_BATCH pairs at a time at most
    assert peak_big < 1.25 * peak_small + 2 * 2**20, (peak_small, peak_big)
    assert peak_big < 40 * 2**20, f"{peak_big / 2**20:.0f} MiB"
    if fmt == "csv":
        with (tmp_path / "big.csv").open(encoding="utf-8-sig", newline="") as handle:
            last = list(csv.reader(handle))[-1]
        assert last == [str((big - 1) % 1000), "0", "87.5", "91.25", "91.25",
                        f"name {(big - 1) % 1000:07d}", "name 0000000"]  # fmt: skip
