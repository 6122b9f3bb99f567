"""Results people use, through the local stack: csv and xlsx outputs, summary.json and the
job's summary, and the CLI's `submit --format ... --wait`, `summary` and `file`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest

from matchq_cli.main import main
from matchq_client import MatchqClient
from tests.e2e.e2e_support import TINY_CONFIG, Stack, tiny_files

pytestmark = pytest.mark.e2e


def tricky_files(directory: Path) -> tuple[Path, Path]:
    """tiny_files plus a column of formula-like, unicode and empty values."""
    directory.mkdir(parents=True, exist_ok=True)
    left, right = directory / "left.csv", directory / "right.tsv"
    left.write_text(
        "name,note\nAnna Schmidt,=1+1\nJosé García,\nZoë Müller,@SUM(A1)\n", encoding="utf-8"
    )
    right.write_text(
        "full_name\ttown\nANNA SCHMIDT\t-Köln\nJOSE GARCIA\t東京\nNobody\t\n", encoding="utf-8"
    )
    return left, right


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_tabular_results_through_the_stack(api: MatchqClient, tmp_path: Path, fmt: str) -> None:
    left, right = tricky_files(tmp_path / "in")
    config = {**TINY_CONFIG, "threshold": 70}
    job_id = api.submit_files(left, right, config, name=f"as {fmt}", output_format=fmt)
    job = api.wait(job_id, timeout=60, poll_interval=0.2)
    assert job.status == "completed", job.error_message
    names = [Path(p).name for p in job.result_files]
    assert names == [f"matched_results.{fmt}", f"unmatched_1.{fmt}", f"unmatched_2.{fmt}",
                     "summary.json"]  # fmt: skip
    paths = {p.name: p for p in api.download_results(job_id, tmp_path / "out")}
    if fmt == "csv":
        with paths["matched_results.csv"].open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
        with paths["unmatched_2.csv"].open(encoding="utf-8-sig", newline="") as handle:
            unmatched2 = list(csv.reader(handle))
    else:
        book = openpyxl.load_workbook(paths["matched_results.xlsx"], read_only=True)
        rows = [list(r) for r in book.active.iter_rows(values_only=True)]
        book.close()
        book = openpyxl.load_workbook(paths["unmatched_2.xlsx"], read_only=True)
        unmatched2 = [list(r) for r in book.active.iter_rows(values_only=True)]
        book.close()
    assert rows[0] == ["file1_row", "file2_row", "score", "score_0", "file1.name", "file1.note",
                       "file2.full_name", "file2.town"]  # fmt: skip
    by_name = {r[4]: r for r in rows[1:]}
    assert by_name["Anna Schmidt"][5] == "'=1+1" and by_name["Anna Schmidt"][7] == "'-Köln"
    assert by_name["José García"][5] in ("", None) and by_name["José García"][7] == "東京"
    assert unmatched2[1][1] == "Nobody"
    summary = api.summary(job_id)
    assert (summary.pairs, summary.rows1, summary.rows2) == (len(rows) - 1, 3, 3)
    assert summary.files["file2"].delimiter == "\t"
    assert job.summary is not None and job.summary.pairs == summary.pairs


def test_cli_submit_format_summary_and_file(
    stack: Stack, user: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    left, right = tiny_files(tmp_path / "in", rows=6)
    config = tmp_path / "match.json"
    config.write_text(json.dumps(TINY_CONFIG))
    head = ["--url", stack.base_url, "--token", stack.token(user)]
    capsys.readouterr()
    files = ["--file1", str(left), "--file2", str(right), "--config", str(config)]
    code = main([*head, "submit", *files, "--format", "csv", "--output-cols1", "name",
                 "--no-unmatched", "--wait", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    body = json.loads(out)
    job_id = body["job_id"]
    assert body["job"]["summary"]["pairs"] == 6
    code = main([*head, "submit", *files, "--wait"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "summary: 6 pairs" in err  # --wait ends with the summary line
    assert main([*head, "summary", job_id]) == 0
    text = capsys.readouterr().out
    assert "95-100" in text and "threshold 80" in text
    assert main([*head, "summary", job_id, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pairs"] == 6 and summary["unmatched1"] == 0
    assert main([*head, "file", body["file1"]]) == 0
    text = capsys.readouterr().out
    assert "left.csv" in text and "Anna Schmidt" in text and "UTF-8" in text
    assert main([*head, "file", "file_00000000-0000-4000-8000-000000000000"]) == 1
    assert "not found" in capsys.readouterr().err.lower()
