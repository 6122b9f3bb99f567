"""`matchq submit`'s output options, `--wait`'s queue position and summary, `matchq summary`
(the score histogram) and `matchq file` (an upload's sample rows) on a fake API
(httpx.MockTransport under the SDK), and their text forms."""

from __future__ import annotations

import io
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from matchq_cli import render
from matchq_cli.main import Globals, main
from matchq_cli.progress import ProgressReporter, plain_line, progress_line
from matchq_client import FileInfo, HistogramBin, Job, JobSummary, JobSummaryCounts
from tests.unit.cli_fakes import BASE, JOB_ID, S3, FakeApi, Run

FILE1 = "file_11111111-1111-4111-8111-111111111111"


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def matchq(
    api: FakeApi,
    sleeps: list[float],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Run]:
    """`matchq ARGS...` in this process, on the fake API; polls sleep in no time."""
    monkeypatch.setenv("MATCHQ_URL", BASE)
    monkeypatch.setenv("MATCHQ_TOKEN", "tok")

    def run(*argv: str) -> Run:
        capsys.readouterr()
        state = Globals(transport=httpx.MockTransport(api), sleep=sleeps.append)
        code = main(list(argv), obj=state)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def one_error_line(run: Run, code: int = 1) -> str:
    assert run.code == code, run
    assert run.err.startswith("matchq: error: "), run.err
    assert run.err.count("\n") == 1, run.err
    return run.err.removeprefix("matchq: error: ").rstrip("\n")


def grant(file_id: str) -> httpx.Response:
    upload = {"url": S3, "fields": {"key": f"uploads/u/{file_id}/x.csv"}}
    return httpx.Response(201, json={"file_id": file_id, "upload": upload, "max_bytes": 1000})


def job_json(status: str = "running", progress: int = 45, **extra: Any) -> dict[str, Any]:
    return {
        "id": JOB_ID,
        "name": "a.csv vs b.csv",
        "status": status,
        "priority": 2,
        "created_at": "2025-01-27T10:00:00Z",
        "progress": progress,
        "message": f"{status} {progress}",
        "error_message": None,
        "result_files": [],
        "duration": 3,
        "estimated_remaining": None,
        **extra,
    }


HISTOGRAM = [
    {"from": 5 * i, "to": 5 * i + 5, "count": c}
    for i, c in enumerate([0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 40, 30, 20, 10, 5, 3, 4, 40, 123, 90])
]
SUMMARY = {
    "rows1": 1000,
    "rows2": 950,
    "pairs": 812,
    "matched_rows1": 812,
    "matched_rows2": 790,
    "unmatched1": 188,
    "unmatched2": 160,
    "threshold": 80,
    "match_mode": "best",
    "score_histogram": HISTOGRAM,
    "suggested_threshold": 72.5,
    "sample_rows": 1000,
    "files": {
        "file1": {"format": "csv", "encoding": "utf-8", "delimiter": "\t"},
        "file2": {"format": "xlsx", "encoding": None, "delimiter": None},
    },
    "timings": {"read": 0.25, "match": 12.5},
}
COUNTS = {
    "rows1": 1000,
    "rows2": 950,
    "pairs": 812,
    "unmatched1": 188,
    "unmatched2": 160,
    "suggested_threshold": 72.5,
}
FILE_INFO = {
    "file_id": FILE1,
    "filename": "crm.csv",
    "size_bytes": 123456,
    "format": "csv",
    "encoding": "utf-8",
    "delimiter": "\t",
    "columns": ["customer_name", "email", "notes"],
    "sample_rows": [
        {"customer_name": "Ann Lee", "email": "ann@example.com", "notes": "long note " * 30},
        {"customer_name": "Bob\nSmith", "email": None, "notes": ""},
    ],
}


@pytest.fixture
def inputs(tmp_path: Path, api: FakeApi) -> list[str]:
    """Two input files, and the fake API's answers to their uploads and the submit."""
    (tmp_path / "a.csv").write_text("name\nAnn\n")
    (tmp_path / "b.csv").write_text("full_name\nAnn\n")
    api.on("POST", "/files", grant("file_1"), grant("file_2"))
    api.on("POST", S3, httpx.Response(204))
    api.on("POST", "/jobs/submit", httpx.Response(201, json={"job_id": JOB_ID}))
    return ["--file1", str(tmp_path / "a.csv"), "--file2", str(tmp_path / "b.csv")]


def results_answer(*names: str) -> httpx.Response:
    files = [{"name": n, "size_bytes": 9, "download_url": f"{S3}/{n}?sig=s"} for n in names]
    return httpx.Response(200, json={"job_id": JOB_ID, "files": files})


# --- submit: output options --------------------------------------------------------------


def test_submit_sends_the_output_options(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str]
) -> None:
    run = matchq(
        "submit",
        *inputs,
        "--map",
        "name=full_name",
        "--format",
        "csv",
        "--output-cols1",
        "name, email",
        "--output-cols2",
        "full_name",
        "--no-unmatched",
        "--idempotency-key",
        "nightly-1",
    )
    assert (run.code, run.out) == (0, f"{JOB_ID}\n"), run.err
    body, request = api.submitted()
    assert body["config"] == {
        "mappings": [{"file1_col": "name", "file2_col": "full_name", "match_type": "fuzzy"}],
        "file1": "file_1",
        "file2": "file_2",
        "output_format": "csv",
        "output_cols1": ["name", "email"],
        "output_cols2": ["full_name"],
        "generate_unmatched": False,
    }
    assert request.headers["Idempotency-Key"] == "nightly-1"


def test_submit_without_output_options_leaves_the_config_files_values(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str], tmp_path: Path
) -> None:
    config = {"mappings": [], "output_format": "xlsx", "generate_unmatched": True}
    (tmp_path / "c.json").write_text(json.dumps(config))
    assert matchq("submit", *inputs, "--config", str(tmp_path / "c.json")).code == 0
    assert api.submitted()[0]["config"] == {**config, "file1": "file_1", "file2": "file_2"}


def test_submit_output_options_override_the_config_file(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str], tmp_path: Path
) -> None:
    config = {"mappings": [], "output_format": "xlsx", "generate_unmatched": True}
    (tmp_path / "c.json").write_text(json.dumps(config))
    run = matchq(
        "submit",
        *inputs,
        "--config",
        str(tmp_path / "c.json"),
        "--format",
        "json",
        "--no-unmatched",
    )
    assert run.code == 0, run.err
    sent = api.submitted()[0]["config"]
    assert (sent["output_format"], sent["generate_unmatched"]) == ("json", False)


def test_submit_json_names_the_uploads(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str]
) -> None:
    run = matchq("submit", *inputs, "--map", "a=b", "--json")
    assert run.json() == {"job_id": JOB_ID, "file1": "file_1", "file2": "file_2"}


SUBMIT = "submit --file1 a --file2 b --map a=b"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (f"{SUBMIT} --format parquet", "--format"),
        (f"{SUBMIT} --output-cols1 a,,b", "empty column name in 'a,,b'"),
        (f"{SUBMIT} --output-cols2 ''", "--output-cols2"),
        (f"{SUBMIT} --no-unmatched=yes", "--no-unmatched"),
        ("summary", "Missing argument 'JOB_ID'"),
        ("summary ' '", "must not be empty"),
        ("file", "Missing argument 'FILE_ID'"),
        ("file ..", "is no id"),
        ("file x --colour", "No such option"),
    ],
)
def test_usage_errors_exit_2_and_send_nothing(
    matchq: Callable[..., Run], api: FakeApi, argv: str, words: str
) -> None:
    line = one_error_line(matchq(*shlex.split(argv)), code=2)
    assert words in line
    assert api.requests == []


# --- submit --wait: queue position, plain progress, summary ------------------------------


def test_wait_prints_plain_lines_with_the_queue_position_then_the_summary(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str], sleeps: list[float]
) -> None:
    api.on(
        "GET",
        f"/jobs/{JOB_ID}",
        httpx.Response(200, json=job_json("pending", 0, queue_position=2)),
        httpx.Response(200, json=job_json("running", 50, queue_position=None)),
        httpx.Response(200, json=job_json("completed", 100, summary=COUNTS)),
    )
    run = matchq("submit", *inputs, "--map", "a=b", "--wait")
    assert (run.code, run.out) == (0, f"{JOB_ID}\n"), run.err
    assert "\r" not in run.err  # captured stderr is no terminal: no redraws
    lines = run.err.splitlines()
    assert lines == [
        f"{JOB_ID} pending 0% queue 2 elapsed 0s ETA -: pending 0",
        f"{JOB_ID} running 50% elapsed 0s ETA -: running 50",
        f"{JOB_ID} completed 100% elapsed 0s ETA 0s: completed 100",
        "summary: 812 pairs; unmatched 188 of 1,000 file1 rows, 160 of 950 file2 rows; "
        "suggested threshold 72.5",
    ]
    assert len(sleeps) == 2


def test_wait_without_a_summary_prints_none(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str]
) -> None:
    api.on("GET", f"/jobs/{JOB_ID}", httpx.Response(200, json=job_json("completed", 100)))
    run = matchq("submit", *inputs, "--map", "a=b", "--wait")
    assert run.code == 0
    assert "summary:" not in run.err


def test_wait_json_carries_the_summary_in_the_job(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str]
) -> None:
    api.on(
        "GET",
        f"/jobs/{JOB_ID}",
        httpx.Response(200, json=job_json("completed", 100, summary=COUNTS)),
    )
    run = matchq("submit", *inputs, "--map", "a=b", "--wait", "--json")
    assert run.code == 0
    assert run.json()["job"]["summary"] == COUNTS
    assert "summary:" not in run.err


def test_get_shows_the_queue_position_and_the_summary(
    matchq: Callable[..., Run], api: FakeApi
) -> None:
    api.on(
        "GET",
        f"/jobs/{JOB_ID}",
        httpx.Response(200, json=job_json("pending", 0, queue_position=4, summary=None)),
        httpx.Response(200, json=job_json("completed", 100, queue_position=None, summary=COUNTS)),
    )
    pending = dict(line.split(":", 1) for line in matchq("get", JOB_ID).out.splitlines())
    assert pending["queue position"].strip() == "4"
    assert "summary" not in pending
    completed = dict(line.split(":", 1) for line in matchq("get", JOB_ID).out.splitlines())
    assert "queue position" not in completed
    assert completed["summary"].strip().startswith("812 pairs; unmatched 188 of 1,000")


# --- matchq summary ----------------------------------------------------------------------


def summary_api(api: FakeApi, summary: dict[str, Any] = SUMMARY) -> None:
    api.on("GET", f"/jobs/{JOB_ID}/results", results_answer("matched_results.json", "summary.json"))
    api.on("GET", f"{S3}/summary.json", httpx.Response(200, json=summary))


def test_summary_prints_counts_and_the_histogram_with_markers(
    matchq: Callable[..., Run], api: FakeApi
) -> None:
    summary_api(api)
    run = matchq("summary", JOB_ID)
    assert run.code == 0, run.err
    heading = "score histogram (best score of each of the 1,000 sampled file1 rows):"
    head, chart = run.out.split(f"\n\n{heading}\n")
    fields = {k: v.strip() for k, v in (line.split(":", 1) for line in head.splitlines())}
    assert fields["rows"] == "1,000 in file1, 950 in file2"
    assert fields["pairs"] == "812"
    assert fields["unmatched"] == "188 of file1, 160 of file2"
    assert fields["threshold"] == "80" and fields["suggested"] == "72.5"
    assert fields["file1"] == "csv, utf-8, delimiter tab"
    assert fields["file2"] == "xlsx"
    assert fields["timings"] == "read 0.25s, match 12.5s"
    rows = chart.splitlines()
    assert len(rows) == 20
    assert rows[0] == "   0-  5 | 0"
    assert rows[16].startswith("  80- 85 | ") and rows[16].endswith(" 4  <- threshold 80")
    assert rows[14].endswith(" 5  <- suggested 72.5")
    assert rows[18] == "  90- 95 | " + "█" * render.HISTOGRAM_WIDTH + " 123"
    assert rows[19].startswith("  95-100 | ")
    assert sum("<-" in row for row in rows) == 2
    # The bars share one left edge, and are as long as their counts say.
    assert {row.index("|") for row in rows} == {9}

    def bar_of(row: str) -> str:
        return row.split("| ", 1)[1].split(" ")[0]

    assert len(bar_of(rows[19])) < len(bar_of(rows[18]))  # 90 vs 123
    assert len(bar_of(rows[1])) == 1  # a count of 1 is still visible


def test_summary_json_prints_summary_json(matchq: Callable[..., Run], api: FakeApi) -> None:
    summary_api(api)
    assert matchq("summary", JOB_ID, "--json").json() == SUMMARY


def test_summary_of_a_running_job_is_the_apis_409(matchq: Callable[..., Run], api: FakeApi) -> None:
    details = f"Job {JOB_ID} is running; results exist only for completed jobs"
    api.on(
        "GET",
        f"/jobs/{JOB_ID}/results",
        httpx.Response(409, json={"error": "Conflict", "details": details}),
    )
    assert one_error_line(matchq("summary", JOB_ID)) == f"409 Conflict: {details}"


def test_summary_of_a_job_without_summary_json_is_one_line(
    matchq: Callable[..., Run], api: FakeApi
) -> None:
    api.on("GET", f"/jobs/{JOB_ID}/results", results_answer("matched_results.json"))
    line = one_error_line(matchq("summary", JOB_ID))
    assert line.startswith(f"No Summary: job {JOB_ID} has no summary.json")


def test_summary_route_names_are_no_job_ids(matchq: Callable[..., Run], api: FakeApi) -> None:
    assert one_error_line(matchq("summary", "stats")) == "404 Not Found: Job not found: stats"
    assert api.requests == []


def test_summary_on_a_stream_without_block_characters_draws_hashes() -> None:
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    assert not render.can_draw_blocks(ascii_out)
    assert render.can_draw_blocks(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    text = render.summary_text(JobSummary.from_dict(SUMMARY), blocks=False)
    assert "(best score of each of the 1,000 sampled file1 rows):" in text
    unsized = render.summary_text(JobSummary.from_dict({**SUMMARY, "sample_rows": None}))
    assert "(best score of each of the sampled file1 rows):" in unsized
    text.encode("ascii")  # nothing but ASCII
    assert "  90- 95 | " + "#" * render.HISTOGRAM_WIDTH + " 123" in text


# --- matchq file -------------------------------------------------------------------------


def test_file_describes_the_upload_with_a_fitted_sample_table(
    matchq: Callable[..., Run], api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    api.on("GET", f"/files/{FILE1}", httpx.Response(200, json=FILE_INFO))
    run = matchq("file", FILE1)
    assert run.code == 0, run.err
    head, table = run.out.split("\n\nsample rows (2):\n")
    fields = {k: v.strip() for k, v in (line.split(":", 1) for line in head.splitlines())}
    assert fields == {
        "file id": FILE1,
        "filename": "crm.csv",
        "size": "123,456 bytes (120.6 KiB)",
        "format": "csv",
        "encoding": "utf-8",
        "delimiter": "tab",
        "columns (3)": "customer_name, email, notes",
    }
    lines = table.splitlines()
    assert lines[0].split() == ["customer_name", "email", "notes"]
    assert lines[1].startswith("Ann Lee        ann@example.com  long note long")
    assert lines[1].endswith("…")
    assert lines[2].rstrip() == "Bob Smith"  # newline collapsed, missing values empty
    assert all(len(line) <= 69 for line in lines)
    assert api.requests[0].headers["Authorization"] == "Bearer tok"


def test_file_json_prints_the_apis_answer(matchq: Callable[..., Run], api: FakeApi) -> None:
    api.on("GET", f"/files/{FILE1}", httpx.Response(200, json=FILE_INFO))
    assert matchq("file", FILE1, "--json").json() == FILE_INFO


@pytest.mark.parametrize(
    ("status", "error", "details"),
    [
        (404, "Not Found", f"File not found: {FILE1}"),
        (403, "Forbidden", "You do not have access to this file"),
    ],
)
def test_file_errors_exit_1_with_the_apis_message(
    matchq: Callable[..., Run], api: FakeApi, status: int, error: str, details: str
) -> None:
    body = {"error": error, "details": details, "timestamp": "2025-01-27T00:00:00Z"}
    api.on("GET", f"/files/{FILE1}", httpx.Response(status, json=body))
    assert one_error_line(matchq("file", FILE1)) == f"{status} {error}: {details}"
    assert one_error_line(matchq("file", FILE1, "--json")) == f"{status} {error}: {details}"


def test_file_without_sample_rows(matchq: Callable[..., Run], api: FakeApi) -> None:
    bare = {"file_id": FILE1, "filename": "b.xlsx", "size_bytes": 10, "format": "xlsx"}
    api.on("GET", f"/files/{FILE1}", httpx.Response(200, json={**bare, "columns": []}))
    out = matchq("file", FILE1).out
    assert "delimiter:   -" in out and "encoding:    -" in out
    assert out.endswith("sample rows:\n(no sample rows)\n")


# --- text forms --------------------------------------------------------------------------


def bins(*counts: int) -> list[HistogramBin]:
    return [HistogramBin(5.0 * i, 5.0 * i + 5, c) for i, c in enumerate(counts)]


def test_bin_index_edges() -> None:
    twenty = bins(*range(20))
    assert render.bin_index(twenty, 0) == 0
    assert render.bin_index(twenty, 4.99) == 0
    assert render.bin_index(twenty, 5) == 1
    assert render.bin_index(twenty, 83.5) == 16
    assert render.bin_index(twenty, 100) == 19  # the last bin holds 100
    assert render.bin_index(twenty, None) is None
    assert render.bin_index(twenty, 101) is None
    assert render.bin_index([], 50) is None


def test_histogram_bars_and_markers() -> None:
    text = render.histogram(bins(0, 1, 80), threshold=5, suggested=7.5, width=8)
    assert text.splitlines() == [
        "   0-  5 | 0",
        "   5- 10 | ▏ 1  <- threshold 5, suggested 7.5",  # any count shows a sliver
        "  10- 15 | ████████ 80",
    ]
    assert render.histogram_bar(3, 8, width=8) == "███"
    assert render.histogram_bar(1, 16, width=8) == "▌"
    assert render.histogram_bar(1, 100, width=8, blocks=False) == "#"
    assert render.histogram([]) == "(no score histogram)"
    assert "<-" not in render.histogram(bins(1, 2), threshold=None, suggested=None)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("\t", "tab"),
        (",", "comma (,)"),
        (";", "semicolon (;)"),
        ("|", "pipe (|)"),
        (" ", "space"),
        (None, "-"),
        ("", "-"),
        (":", ":"),
        ("\x1f", "\\x1f"),
    ],
)
def test_delimiter_names(value: str | None, text: str) -> None:
    assert render.delimiter(value) == text


def test_sizes_and_widths() -> None:
    assert render.size(532) == "532 bytes"
    assert render.size(3 * 1024**2) == "3,145,728 bytes (3.0 MiB)"
    assert render.fit_widths([5, 10], 100) == [5, 10]
    assert render.fit_widths([5, 100], 100) == [5, render.MAX_CELL]
    assert render.fit_widths([30, 30, 30], 60) == [20, 20, 20]
    assert render.fit_widths([30, 30], 4) == [render.MIN_CELL, render.MIN_CELL]


def test_sample_table_keeps_user_columns_left_aligned() -> None:
    text = render.sample_table(["JOBS", "n"], [{"JOBS": "a", "n": 1}, {"JOBS": "bbbb"}], 80)
    assert text.splitlines() == ["JOBS  n", "a     1", "bbbb"]
    assert render.file_details(FileInfo.from_dict(FILE_INFO), width=200).count("…") == 1


def test_summary_counts_line() -> None:
    line = render.summary_counts(JobSummaryCounts(10, 12, 8, 2, 4, None))
    assert line == (
        "8 pairs; unmatched 2 of 10 file1 rows, 4 of 12 file2 rows; suggested threshold none"
    )


def job(**fields: Any) -> Job:
    return Job.from_dict({"id": "job_1", "status": "pending", "progress": 0, **fields})


def test_progress_lines_show_the_queue_position_of_pending_jobs() -> None:
    assert plain_line(job(queue_position=3, message="Queued"), 2) == (
        "job_1 pending 0% queue 3 elapsed 2s ETA -: Queued"
    )
    assert "queue" not in plain_line(job(status="running", queue_position=3), 2)
    assert "queue" not in plain_line(job(), 2)
    assert "  pending    queue 3  elapsed 2s" in progress_line(job(queue_position=3), 2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_writes_a_line_when_the_queue_moves() -> None:
    out, clock = io.StringIO(), FakeClock()
    reporter = ProgressReporter(out, tty=False, clock=clock)
    reporter(job(queue_position=3))
    clock.now += 3
    reporter(job(queue_position=3))  # no change: nothing
    reporter(job(queue_position=2))  # moved, the interval passed: a line
    clock.now += 0.5
    reporter(job(queue_position=1))  # too soon: skipped
    reporter.finish(job(status="completed", progress=100))
    assert [line.split()[3:5] for line in out.getvalue().splitlines()] == [
        ["queue", "3"],
        ["queue", "2"],
        ["elapsed", "4s"],
    ]
    assert "\r" not in out.getvalue()


def test_a_reporter_on_a_pipe_never_redraws() -> None:
    pipe = io.StringIO()  # isatty() is False
    reporter = ProgressReporter(pipe)
    assert reporter.tty is False
    for step in range(5):
        reporter(job(status="running", progress=step * 20))
    reporter.finish(job(status="completed", progress=100))
    assert "\r" not in pipe.getvalue()
    assert pipe.getvalue().endswith("job_1 completed 100% elapsed 0s ETA 0s\n")
