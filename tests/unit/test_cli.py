"""The `matchq` command line without a server: parsing, --map, tables, progress lines."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from matchq_cli import render
from matchq_cli.configs import apply_options, load_config, parse_map, quick_config
from matchq_cli.errors import CliError, error_line
from matchq_cli.main import build_parser, main
from matchq_cli.progress import ProgressReporter, bar, plain_line, progress_line
from matchq_client import ConnectionFailed, Job, NotFound, Unauthorized

CLIENT_COMMANDS = ["submit", "list", "get", "cancel", "delete", "stats", "cleanup", "download"]
ALL_COMMANDS = ["serve", "token", "invoke", *CLIENT_COMMANDS]


def job(**fields: Any) -> Job:
    data: dict[str, Any] = {
        "id": "job_1",
        "name": "crm vs billing",
        "status": "running",
        "priority": 3,
        "created_at": "2025-01-27T10:00:05Z",
        "progress": 42,
        "message": "Matching rows",
        "duration": None,
        "estimated_remaining": 75,
    }
    return Job.from_dict({**data, **fields})


# --- parsing ---------------------------------------------------------------------------


def test_global_options_work_before_and_after_the_subcommand() -> None:
    parser = build_parser()
    before = parser.parse_args(["--url", "http://a/api/v1", "--token", "t", "--json", "stats"])
    after = parser.parse_args(["stats", "--url", "http://a/api/v1", "--token", "t", "--json"])
    for args in (before, after):
        assert (args.url, args.token, args.json) == ("http://a/api/v1", "t", True)


def test_url_and_token_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHQ_URL", "http://env/api/v1")
    monkeypatch.setenv("MATCHQ_TOKEN", "env-token")
    args = build_parser().parse_args(["list"])
    assert (args.url, args.token, args.json) == ("http://env/api/v1", "env-token", False)


def test_url_defaults_to_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATCHQ_URL", raising=False)
    monkeypatch.delenv("MATCHQ_TOKEN", raising=False)
    args = build_parser().parse_args(["list"])
    assert args.url == "http://localhost:5000/api/v1"
    assert args.token is None


def test_submit_takes_config_or_map_but_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    files = ["submit", "--file1", "a.csv", "--file2", "b.csv"]
    args = parser.parse_args([*files, "--map", "a=b", "--map", "c=d:exact", "--threshold", "70"])
    assert args.map == ["a=b", "c=d:exact"]
    assert args.threshold == 70
    assert parser.parse_args([*files, "--config", "c.json"]).config == Path("c.json")
    for extra in (["--config", "c.json", "--map", "a=b"], []):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([*files, *extra])
        assert exc.value.code == 2
    assert "--config" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "5", "x"])
def test_submit_refuses_a_bad_priority(value: str) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(
            ["submit", "--file1", "a", "--file2", "b", "--map", "a=b", "--priority", value]
        )
    assert exc.value.code == 2


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_every_subcommand_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert f"matchq {command}" in out


def test_missing_token_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MATCHQ_TOKEN", raising=False)
    assert main(["stats"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("matchq: error: no token")
    assert "matchq token --user NAME" in err


# --- --map and config files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("name=full_name", {"file1_col": "name", "file2_col": "full_name", "match_type": "fuzzy"}),
        (
            "email=email_address:exact",
            {"file1_col": "email", "file2_col": "email_address", "match_type": "exact"},
        ),
        (
            "name=full_name:fuzzy:token_set_ratio",
            {
                "file1_col": "name",
                "file2_col": "full_name",
                "match_type": "fuzzy",
                "scorer": "token_set_ratio",
            },
        ),
        (
            "name=full_name:FUZZY:wratio@2.5",
            {
                "file1_col": "name",
                "file2_col": "full_name",
                "match_type": "fuzzy",
                "scorer": "WRatio",
                "weight": 2.5,
            },
        ),
        (
            "zip=postcode:exact@2",
            {"file1_col": "zip", "file2_col": "postcode", "match_type": "exact", "weight": 2.0},
        ),
        (
            " first name = Full Name ",
            {"file1_col": "first name", "file2_col": "Full Name", "match_type": "fuzzy"},
        ),
    ],
)
def test_parse_map(value: str, expected: dict[str, Any]) -> None:
    assert parse_map(value) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("name", "no '='"),
        ("=full_name", "empty column"),
        ("name=", "empty column"),
        ("name=full_name:similar", "not fuzzy or exact"),
        ("name=full_name:fuzzy:levenshtein", "unknown scorer"),
        ("email=email:exact:ratio", "fuzzy mappings only"),
        ("name=full_name:fuzzy:ratio:x", "too many"),
        ("name=full_name@heavy", "not a number"),
        ("name=full_name@0", "above 0"),
    ],
)
def test_parse_map_names_the_bad_value(value: str, why: str) -> None:
    with pytest.raises(CliError) as exc:
        parse_map(value)
    message = str(exc.value)
    assert message.startswith(f"bad --map {value!r}: ")
    assert why in message
    assert "\n" not in message


def test_quick_config_with_threshold_and_mode() -> None:
    config = apply_options(quick_config(["a=b", "c=d:exact"]), 85, "one_to_one")
    assert config == {
        "mappings": [
            {"file1_col": "a", "file2_col": "b", "match_type": "fuzzy"},
            {"file1_col": "c", "file2_col": "d", "match_type": "exact"},
        ],
        "threshold": 85,
        "match_mode": "one_to_one",
    }
    assert apply_options({"threshold": 80}, 72.5, None) == {"threshold": 72.5}
    with pytest.raises(CliError, match="--threshold"):
        apply_options({}, 101, None)


def test_load_config(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"mappings": [], "threshold": 90}))
    assert load_config(good) == {"mappings": [], "threshold": 90}


@pytest.mark.parametrize(
    ("content", "why"),
    [(None, "does not exist"), ("{not json", "is not valid JSON"), ("[1, 2]", "JSON object")],
)
def test_load_config_errors_name_the_file(tmp_path: Path, content: str | None, why: str) -> None:
    path = tmp_path / "cfg.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CliError) as exc:
        load_config(path)
    assert str(path) in str(exc.value)
    assert why in str(exc.value)


def test_bad_map_fails_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = ["--file1", str(tmp_path / "a.csv"), "--file2", str(tmp_path / "b.csv")]
    code = main(
        [
            "--url",
            "http://127.0.0.1:9/api/v1",
            "--token",
            "t",
            "submit",
            *files,
            "--map",
            "name:full_name",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err == (
        "matchq: error: bad --map 'name:full_name': no '=' "
        "(expected FILE1_COL=FILE2_COL[:fuzzy|exact[:SCORER]][@WEIGHT])\n"
    )


# --- rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0s"), (42, "42s"), (59.6, "1m00s"), (185, "3m05s"), (7620, "2h07m")],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert render.duration(seconds) == text


def test_jobs_table_is_aligned() -> None:
    jobs = [
        job(),
        job(
            id="job_2",
            name="a much longer job name that goes on and on and on",
            status="completed",
            priority=2,
            progress=100,
            duration=3725,
        ),
    ]
    lines = render.jobs_table(jobs).splitlines()
    assert lines[0].split() == [
        "ID",
        "NAME",
        "STATUS",
        "PRIORITY",
        "PROGRESS",
        "CREATED",
        "(UTC)",
        "DURATION",
    ]
    assert lines[1].split()[:4] == ["job_1", "crm", "vs", "billing"]
    assert "3 high" in lines[1]
    assert "42%" in lines[1]
    assert "2025-01-27 10:00:05" in lines[1]
    assert lines[1].endswith("-")
    assert lines[2].endswith("1h02m")
    assert "…" in lines[2]
    # Every column starts at the same offset on every line.
    for header in ("STATUS", "PRIORITY", "CREATED"):
        start = lines[0].index(header)
        assert lines[1][start - 2 : start] == "  "
        assert lines[2][start - 2 : start] == "  "
        assert lines[1][start] != " "
    # Right-aligned columns end together.
    end = lines[0].index("PROGRESS") + len("PROGRESS")
    assert lines[1][end - 3 : end] == "42%"
    assert lines[2][end - 4 : end] == "100%"


def test_jobs_table_when_empty() -> None:
    assert render.jobs_table([]) == "(no jobs)"


def test_job_details() -> None:
    text = render.job_details(
        job(status="failed", error_message="Column 'x' not found", result_files=[])
    )
    lines = dict(line.split(":", 1) for line in text.splitlines())
    assert lines["result files"].strip() == "-"
    done = render.job_details(job(status="completed", result_files=["/results/j/a.json", "b.json"]))
    assert "result files: a.json, b.json" in done
    assert lines["status"].strip() == "failed"
    assert lines["priority"].strip() == "3 high"
    assert lines["error"].strip() == "Column 'x' not found"
    assert "eta" not in lines
    assert "eta:" in render.job_details(job())


def test_stats_table() -> None:
    stats = {
        "total_jobs": 7,
        "pending": 1,
        "running": 2,
        "completed": 3,
        "failed": 0,
        "cancelled": 1,
        "active_workers": 2,
        "total_workers": 4,
    }
    text = render.stats_table(stats)
    rows = [line.split() for line in text.splitlines() if line.strip()]
    assert rows[0] == ["STATUS", "JOBS"]
    assert rows[1:7] == [
        ["pending", "1"],
        ["running", "2"],
        ["completed", "3"],
        ["failed", "0"],
        ["cancelled", "1"],
        ["total", "7"],
    ]
    assert text.splitlines()[-1] == "workers: 2 busy of 4"


# --- progress ----------------------------------------------------------------------------


def test_bar() -> None:
    assert bar(0, 10) == "[----------]"
    assert bar(42, 10) == "[####------]"
    assert bar(100, 10) == "[##########]"
    assert bar(150, 10) == "[##########]"


def test_progress_line() -> None:
    line = progress_line(job(), 12.0, width=200)
    assert line == f"{bar(42)}  42%  running    elapsed 12s  ETA 1m15s  Matching rows"
    assert len(progress_line(job(), 12.0, width=40)) == 40
    finished = progress_line(job(status="completed", progress=100), 3, width=200)
    assert "100%" in finished
    assert "ETA 0s" in finished


def test_plain_line() -> None:
    assert plain_line(job(), 3.4) == "job_1 running 42% elapsed 3s ETA 1m15s: Matching rows"
    assert plain_line(job(message="", estimated_remaining=None), 0) == (
        "job_1 running 42% elapsed 0s ETA -"
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_is_throttled_but_shows_every_status() -> None:
    out, clock = io.StringIO(), FakeClock()
    reporter = ProgressReporter(out, tty=False, clock=clock)
    reporter(job(status="pending", progress=0, message="Queued"))
    clock.now += 0.5
    reporter(job(status="running", progress=10))  # new status: written
    clock.now += 0.5
    reporter(job(status="running", progress=20))  # too soon: skipped
    clock.now += 2.0
    reporter(job(status="running", progress=30))  # interval passed: written
    clock.now += 1.0
    reporter(job(status="running", progress=30))  # no change: skipped
    final = job(status="completed", progress=100, message="Done")
    reporter(final)
    reporter.finish(final)  # already written: not repeated
    lines = out.getvalue().splitlines()
    assert [line.split()[1:3] for line in lines] == [
        ["pending", "0%"],
        ["running", "10%"],
        ["running", "30%"],
        ["completed", "100%"],
    ]
    assert lines[-1] == "job_1 completed 100% elapsed 4s ETA 0s: Done"


def test_tty_progress_redraws_one_line() -> None:
    out, clock = io.StringIO(), FakeClock()
    reporter = ProgressReporter(out, tty=True, clock=clock, width=120)
    reporter(job(progress=10, message="a long message to be overwritten"))
    clock.now += 1
    reporter(job(progress=50, message="short"))
    reporter.finish(job(status="completed", progress=100, message=""))
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    frames = text.rstrip("\n").split("\r")[1:]
    assert len(frames) == 3
    assert " 10%" in frames[0] and " 50%" in frames[1] and "100%" in frames[2]
    assert len(frames[1]) >= len(frames[0])  # padded over the longer previous frame


# --- error lines -------------------------------------------------------------------------


def test_error_lines() -> None:
    not_found = NotFound(404, "Not Found", "Job not found: job_x")
    assert error_line(not_found, "http://x") == "404 Not Found: Job not found: job_x"
    expired = Unauthorized(401, "Unauthorized", "Token has expired")
    assert error_line(expired, "http://x").startswith("401 Unauthorized: Token has expired")
    assert "matchq token --user" in error_line(expired, "http://x")
    down = ConnectionFailed(None, "Cannot reach http://localhost:5000/api/v1", "refused")
    line = error_line(down, "http://localhost:5000/api/v1")
    assert line.startswith("cannot reach http://localhost:5000/api/v1")
    assert line.endswith("is the local stack running? (make run)")
    remote = error_line(down, "https://matchq.example.com/api/v1")
    assert "MATCHQ_URL" in remote and "make run" not in remote
    assert error_line(FileNotFoundError(2, "No such file", "x.csv"), "u") == "x.csv: No such file"
