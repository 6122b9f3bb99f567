"""run_match end to end: result files, progress, cancellation, errors, cleanup."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from matchq.config import MatchConfig
from matchq.errors import InputFileError, JobCancelled
from matchq.formats import Table, read_table
from matchq.matching import MatchSummary, TooManyMatches, pairs, run_match
from matchq.matching.normalize import normalize
from matchq.matching.pipeline import Reporter
from tests.unit.matching.reference import reference_match

FILE_ID = "file_12345678-1234-4123-8123-123456789012"

CSV1 = "id,name,city,email\n1,John Smith,Bonn,j@x.org\n2,Anna Berg,Köln,\n3,Zed Zulu,Bonn,z@x.org\n"
CSV2 = "full_name\tcity\nSmith John\tBonn\nAnna Bergg\t\nAnn Berg\tKöln\nNobody\tBonn\n"


def config(**kwargs: Any) -> MatchConfig:
    base: dict[str, Any] = {
        "file1": FILE_ID, "file2": FILE_ID,
        "mappings": [
            {"file1_col": "name", "file2_col": "full_name", "weight": 2},
            {"file1_col": "city", "file2_col": "city", "match_type": "exact"},
        ],
        "threshold": 80,
    }  # fmt: skip
    base.update(kwargs)
    return MatchConfig(**base)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    f1, f2 = tmp_path / "in1", tmp_path / "in2"
    f1.write_text(CSV1, encoding="utf-8")
    f2.write_text(CSV2, encoding="utf-8")
    return f1, f2


def run(files: tuple[Path, Path], out: Path, cfg: MatchConfig, **kwargs: Any) -> MatchSummary:
    return run_match(cfg, files[0], files[1], out, file1_name="people.csv",
                     file2_name="crm.tsv", **kwargs)  # fmt: skip


def load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_result_files_shapes(files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = run(files, out, config())
    assert sorted(p.name for p in out.iterdir()) == sorted(summary.files) == [
        "matched_results.json", "summary.json", "unmatched_1.json", "unmatched_2.json"]  # fmt: skip
    assert summary.files[-1] == "summary.json"
    matched = load(out / "matched_results.json")
    assert [(m["file1_row"], m["file2_row"]) for m in matched] == [(0, 0), (1, 2)]
    first = matched[0]
    assert first["score"] == 100.0
    assert first["mapping_scores"] == [100.0, 100.0]
    assert first["file1"] == {"id": "1", "name": "John Smith", "city": "Bonn", "email": "j@x.org"}
    assert first["file2"] == {"full_name": "Smith John", "city": "Bonn"}
    assert matched[1]["file1"]["email"] is None
    assert load(out / "unmatched_1.json") == [
        {"file1_row": 2, "file1": {"id": "3", "name": "Zed Zulu", "city": "Bonn",
                                   "email": "z@x.org"}}]  # fmt: skip
    assert [u["file2_row"] for u in load(out / "unmatched_2.json")] == [1, 3]
    assert (summary.rows1, summary.rows2, summary.matched) == (3, 4, 2)
    assert (summary.unmatched1, summary.unmatched2) == (1, 2)
    assert summary.elapsed >= 0


def test_summary_counts_equal_the_files(files: tuple[Path, Path], tmp_path: Path) -> None:
    for n, cfg in enumerate([config(), config(match_mode="all", threshold=40),
                             config(match_mode="one_to_one", threshold=40)]):  # fmt: skip
        out = tmp_path / f"o{n}"
        result = run(files, out, cfg)
        summary = load(out / "summary.json")
        assert summary == result.summary
        matched = load(out / "matched_results.json")
        unmatched1 = load(out / "unmatched_1.json")
        unmatched2 = load(out / "unmatched_2.json")
        assert (summary["rows1"], summary["rows2"]) == (3, 4)
        assert summary["pairs"] == len(matched)
        assert summary["matched_rows1"] == len({m["file1_row"] for m in matched})
        assert summary["matched_rows2"] == len({m["file2_row"] for m in matched})
        assert (summary["unmatched1"], summary["unmatched2"]) == (len(unmatched1), len(unmatched2))
        assert summary["matched_rows1"] + summary["unmatched1"] == 3
        assert summary["threshold"] == cfg.threshold
        assert summary["match_mode"] == cfg.match_mode.value
        bins = summary["score_histogram"]
        assert [(b["from"], b["to"]) for b in bins] == [(i, i + 5) for i in range(0, 100, 5)]
        assert sum(b["count"] for b in bins) == summary["sample_rows"] == 3  # small: every row
        assert summary["files"] == {
            "file1": {"format": "csv", "encoding": "UTF-8", "delimiter": ","},
            "file2": {"format": "tsv", "encoding": "UTF-8", "delimiter": "\t"},
        }
        assert set(summary["timings"]) == {"read", "prepare", "match", "sample", "write"}
        assert all(t >= 0 for t in summary["timings"].values())


def test_left_out_mapping_is_null_and_scores_rounded(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg = config(match_mode="all", threshold=50, output_cols1=["name"], output_cols2=["city"])
    run(files, tmp_path / "o", cfg)
    matched = load(tmp_path / "o" / "matched_results.json")
    by_pair = {(m["file1_row"], m["file2_row"]): m for m in matched}
    anna = by_pair[(1, 1)]  # city empty in file2 row 1: left out of the mean
    assert anna["mapping_scores"][1] is None
    assert anna["score"] == anna["mapping_scores"][0]
    assert anna["score"] == round(anna["score"], 4) and anna["score"] != 100.0
    assert anna["file1"] == {"name": "Anna Berg"} and anna["file2"] == {"city": None}
    table1 = read_table(files[0], "people.csv")
    table2 = read_table(files[1], "crm.tsv")
    want = reference_match(cfg, table1.columns, table2.columns)
    assert [(p[0], p[1], round(p[2], 4)) for p in want] == [
        (m["file1_row"], m["file2_row"], m["score"]) for m in matched]  # fmt: skip
    for pair, got in zip(want, matched, strict=True):
        assert [None if math.isnan(s) else round(s, 4) for s in pair[3]] == got["mapping_scores"]


def test_no_unmatched_files_when_not_asked(files: tuple[Path, Path], tmp_path: Path) -> None:
    summary = run(files, tmp_path / "o", config(generate_unmatched=False))
    assert summary.files == ["matched_results.json", "summary.json"]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == summary.files
    assert (summary.summary["unmatched1"], summary.summary["unmatched2"]) == (1, 2)


def test_empty_result_is_an_empty_array(files: tuple[Path, Path], tmp_path: Path) -> None:
    run(
        files,
        tmp_path / "o",
        config(
            threshold=100,
            match_mode="one_to_one",
            mappings=[{"file1_col": "email", "file2_col": "city"}],
        ),
    )
    assert load(tmp_path / "o" / "matched_results.json") == []
    assert len(load(tmp_path / "o" / "unmatched_1.json")) == 3


def test_progress_monotonic_and_complete(files: tuple[Path, Path], tmp_path: Path) -> None:
    calls: list[tuple[float, str]] = []
    run(files, tmp_path / "o", config(), progress=lambda p, m: calls.append((p, m)))
    percents = [p for p, _ in calls]
    assert percents == sorted(percents)
    assert percents[0] == 0.0 and percents[-1] == 100.0
    assert all(isinstance(m, str) and m for _, m in calls)


def test_progress_reports_matched_rows(tmp_path: Path) -> None:
    f1, f2 = tmp_path / "a", tmp_path / "b"
    f1.write_text("name\n" + "".join(f"name{k}\n" for k in range(50)), encoding="utf-8")
    f2.write_text("name\n" + "".join(f"name{k}x\n" for k in range(50)), encoding="utf-8")
    messages: list[str] = []
    cfg = MatchConfig(file1=FILE_ID, file2=FILE_ID,
                      mappings=[{"file1_col": "name", "file2_col": "name"}])  # fmt: skip
    with mock.patch.object(Reporter, "INTERVAL", 0.0):
        run_match(cfg, f1, f2, tmp_path / "o", file1_name="a.csv", file2_name="b.csv",
                  chunk_rows=10, progress=lambda p, m: messages.append(m))  # fmt: skip
    assert "Matched 20 of 50 rows" in messages


def test_cancel_leaves_no_files(files: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("not ours")
    state = {"calls": 0}

    def cancel_late() -> bool:
        state["calls"] += 1
        return state["calls"] > 3

    with mock.patch.object(Reporter, "INTERVAL", 0.0), pytest.raises(JobCancelled):
        run(files, out, config(), should_cancel=cancel_late)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_cancel_while_writing_removes_partial_files(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "o"
    stop = {"now": False}

    def progress(_: float, message: str) -> None:
        if message.startswith("Writing"):
            stop["now"] = True

    with mock.patch.object(Reporter, "INTERVAL", 0.0), pytest.raises(JobCancelled):
        run(files, out, config(), progress=progress, should_cancel=lambda: stop["now"])
    assert list(out.iterdir()) == []


def test_unknown_config_column_names_column_and_file(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(InputFileError, match=r"crm\.tsv: no column 'phone'"):
        run(files, tmp_path / "o", config(output_cols2=["phone"]))
    with pytest.raises(InputFileError, match=r"people\.csv: no column 'nom'"):
        run(files, tmp_path / "o", config(mappings=[{"file1_col": "nom", "file2_col": "city"}]))
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_too_many_pairs_is_a_clear_error(files: tuple[Path, Path], tmp_path: Path) -> None:
    with (
        mock.patch.object(pairs, "MAX_PAIRS", 5),
        pytest.raises(TooManyMatches, match="raise the threshold"),
    ):
        run(files, tmp_path / "o", config(threshold=0, match_mode="all"))
    with mock.patch.object(pairs, "MAX_PAIRS", 5), pytest.raises(TooManyMatches):
        run(files, tmp_path / "o", config(threshold=0, match_mode="one_to_one"))
    summary = run(files, tmp_path / "o", config(threshold=0, match_mode="all"))
    assert summary.matched == 12


def test_format_follows_the_users_file_name(tmp_path: Path) -> None:
    f1, f2 = tmp_path / "x1", tmp_path / "x2"
    f1.write_text(json.dumps([{"n": "Ann"}, {"n": "Bob"}]), encoding="utf-8")
    f2.write_text('{"m": "ann"}\n{"m": "Rob"}\n', encoding="utf-8")
    mapping = {"file1_col": "n", "file2_col": "m", "match_type": "exact"}
    cfg = MatchConfig(file1=FILE_ID, file2=FILE_ID, threshold=100, mappings=[mapping])
    summary = run_match(cfg, f1, f2, tmp_path / "o", file1_name="a.json", file2_name="b.jsonl")
    assert summary.matched == 1
    with pytest.raises(InputFileError, match=r"a\.csv: no column 'n'"):
        run_match(cfg, f1, f2, tmp_path / "o", file1_name="a.csv", file2_name="b.jsonl")


def test_normalization_rules() -> None:
    assert normalize("  Héllo,\tWORLD!! ") == "hello world"
    assert normalize("Straße") == "strasse"
    assert normalize("\uff21\uff22\uff23-\uff11\uff12\uff13") == "abc 123"
    assert normalize("naïve café") == "naive cafe"
    assert normalize("€100 + $5") == "100 5"
    assert normalize("İstanbul") == "istanbul"
    assert normalize("...") == ""


def test_chunks_follow_the_measured_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without chunk_rows the first chunk is small and later ones are sized to about
    CHUNK_SECONDS of work, so a slow scorer still moves the progress every few seconds."""
    from matchq.matching import pipeline

    now = [0.0]
    sizes: list[int] = []

    def slow_chunk(job: Any, rows: Any, tick: Any) -> Any:
        sizes.append(len(rows))
        now[0] += len(rows) / 64  # 64 rows a second (exact in binary)
        return real_chunk(job, rows, tick)

    real_chunk = pipeline.match_chunk
    monkeypatch.setattr(pipeline, "match_chunk", slow_chunk)
    monkeypatch.setattr(pipeline.time, "perf_counter", lambda: now[0])
    table = Table("t.csv", ["name"], {"name": [f"n{i}" for i in range(2000)]}, 2000)
    cfg = MatchConfig(file1=FILE_ID, file2=FILE_ID,
                      mappings=[{"file1_col": "name", "file2_col": "name"}])  # fmt: skip
    done: list[int] = []
    pipeline.match_tables(cfg, table, table, on_chunk=done.append)
    assert sizes[0] == pipeline.FIRST_CHUNK_ROWS
    assert set(sizes[1:-1]) == {int(64 * pipeline.CHUNK_SECONDS)}  # 2 s at 64 rows/s
    assert sum(sizes) == 2000 and done[-1] == 2000
    sizes.clear()
    pipeline.match_tables(cfg, table, table, chunk_rows=700)  # a given size is kept
    assert sizes == [700, 700, 600]
