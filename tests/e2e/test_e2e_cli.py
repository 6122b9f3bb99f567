"""The `matchq` command line against a local stack: every subcommand, progress, --json,
and the error paths (bad config, unknown job, expired token, server down)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from matchq_cli.main import main
from matchq_client import MatchqClient
from tests.e2e.e2e_support import TINY_CONFIG, Stack, slow_files, tiny_files, wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MISSING_JOB = "job_00000000-0000-4000-8000-000000000000"
RESULT_FILES = ["matched_results.json", "summary.json", "unmatched_1.json", "unmatched_2.json"]


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Run]


@pytest.fixture
def token(stack: Stack, user: str) -> str:
    return stack.token(user)


@pytest.fixture
def cli(
    stack: Stack, token: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """`matchq ARGS...` in this process as the test's user; returns status, stdout, stderr."""
    monkeypatch.delenv("MATCHQ_URL", raising=False)
    monkeypatch.delenv("MATCHQ_TOKEN", raising=False)

    def run(*argv: str, url: str | None = None, token_: str | None = None) -> Run:
        capsys.readouterr()
        head = ["--url", url or stack.base_url, "--token", token_ or token]
        code = main([*head, *argv])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[str, str]:
    left, right = tiny_files(tmp_path / "in")
    return str(left), str(right)


@pytest.fixture
def config_file(tmp_path: Path) -> str:
    path = tmp_path / "match.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return str(path)


@pytest.fixture
def completed_job(cli: Cli, inputs: tuple[str, str], config_file: str) -> str:
    """The older of two completed jobs of the test's user."""
    ids = []
    for _ in range(2):
        run = cli("submit", "--file1", inputs[0], "--file2", inputs[1], "--config", config_file)
        assert run.code == 0, run.err
        ids.append(run.out.strip())
    wait_until(
        lambda: all(job["status"] == "completed" for job in cli("list", "--json").json()),
        timeout=60,
        what="both jobs to complete",
    )
    return ids[0]


def one_error_line(run: Run) -> str:
    assert run.code == 1, (run.out, run.err)
    assert run.err.startswith("matchq: error: "), run.err
    assert run.err.count("\n") == 1, run.err
    assert "Traceback" not in run.err
    return run.err.removeprefix("matchq: error: ").rstrip("\n")


# --- submit ------------------------------------------------------------------------------


def test_submit_waits_with_progress_lines_and_downloads(
    cli: Cli, inputs: tuple[str, str], config_file: str, tmp_path: Path
) -> None:
    target = tmp_path / "results"
    run = cli(
        "submit",
        "--file1",
        inputs[0],
        "--file2",
        inputs[1],
        "--config",
        config_file,
        "--name",
        "cli wait",
        "--priority",
        "4",
        "--wait",
        "--download",
        str(target),
    )
    assert run.code == 0, run.err
    job_id, *paths = run.out.splitlines()
    assert job_id.startswith("job_")
    assert sorted(Path(p).name for p in paths) == RESULT_FILES
    assert sorted(p.name for p in target.iterdir()) == RESULT_FILES
    assert len(json.loads((target / "matched_results.json").read_text())) == 5

    # Not a terminal: plain progress lines on stderr, the last one the final state, then
    # the summary line.
    *lines, summary = run.err.splitlines()
    assert lines, "no progress lines"
    assert all(line.startswith(f"{job_id} ") for line in lines), lines
    assert "\r" not in run.err
    assert lines[-1].startswith(f"{job_id} completed 100% elapsed ")
    assert " ETA 0s" in lines[-1]
    assert summary.startswith("summary: 5 pairs; unmatched 0 of 5 file1 rows, 0 of 5 file2 rows")


def test_submit_quick_map_json(cli: Cli, inputs: tuple[str, str], stack: Stack, token: str) -> None:
    run = cli(
        "submit",
        "--file1",
        inputs[0],
        "--file2",
        inputs[1],
        "--map",
        "name=full_name:fuzzy:token_set_ratio@2",
        "--map",
        "city=town:exact",
        "--threshold",
        "90",
        "--mode",
        "one_to_one",
        "--json",
    )
    assert run.code == 0, run.err
    body = run.json()
    assert set(body) == {"job_id", "file1", "file2"}
    assert body["file1"].startswith("file_") and body["file2"].startswith("file_")
    with MatchqClient(stack.base_url, token) as api:
        job = api.wait(body["job_id"], timeout=60, poll_interval=0.2)
    assert job.status == "completed", job.error_message
    assert job.name == "left.csv vs right.csv"


def test_submit_wait_json_has_the_final_job(
    cli: Cli, inputs: tuple[str, str], tmp_path: Path
) -> None:
    run = cli(
        "submit",
        "--file1",
        inputs[0],
        "--file2",
        inputs[1],
        "--map",
        "name=full_name",
        "--download",
        str(tmp_path / "out"),
        "--json",
    )
    assert run.code == 0, run.err
    body = run.json()
    assert set(body) == {"job_id", "file1", "file2", "job", "downloaded"}
    assert body["job"]["id"] == body["job_id"]
    assert body["job"]["status"] == "completed"
    assert sorted(Path(p).name for p in body["downloaded"]) == RESULT_FILES


def test_submit_that_ends_cancelled_exits_non_zero(
    stack: Stack, token: str, cli: Cli, tmp_path: Path
) -> None:
    """The installed `matchq` in a subprocess: progress lines on a pipe, cancel, exit 1."""
    left, right = slow_files(tmp_path / "slow", rows=3000)
    config = tmp_path / "slow.json"
    config.write_text(
        json.dumps(
            {
                "mappings": [
                    {"file1_col": "name", "file2_col": "name", "scorer": "WRatio"},
                    {"file1_col": "other", "file2_col": "other", "scorer": "token_set_ratio"},
                ],
                "threshold": 95,
                "match_mode": "all",
            }
        )
    )
    installed = ROOT / ".venv" / "bin" / "matchq"
    command = [str(installed)] if installed.exists() else [sys.executable, "-m", "matchq_cli.main"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHQ_")}
    env.update(MATCHQ_URL=stack.base_url, MATCHQ_TOKEN=token)
    argv = ["submit", "--file1", str(left), "--file2", str(right), "--config", str(config)]
    process = subprocess.Popen(
        [*command, *argv, "--priority", "1", "--wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        job_id = process.stdout.readline().strip()
        assert job_id.startswith("job_"), process.communicate(timeout=30)
        cancel = cli("cancel", job_id)
        assert cancel.code == 0, cancel.err
        assert cancel.out == f"cancelled {job_id}\n"
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1, err
    assert out == ""
    lines = err.splitlines()
    assert lines[-1].startswith(f"matchq: error: job {job_id} cancelled")
    assert lines[-2].startswith(f"{job_id} cancelled ")
    assert "Traceback" not in err

    again = cli("cancel", job_id)
    assert one_error_line(again).startswith("409 Conflict: ")
    assert one_error_line(cli("download", job_id, str(tmp_path / "none"))).startswith(
        "409 Conflict: "
    )


# --- list, get, stats, download, delete, cleanup ------------------------------------------


def test_list_table_and_json(cli: Cli, completed_job: str) -> None:
    run = cli("list")
    assert run.code == 0, run.err
    header, *rows = run.out.splitlines()
    assert header.split()[:5] == ["ID", "NAME", "STATUS", "PRIORITY", "PROGRESS"]
    assert "DURATION" in header
    assert len(rows) == 2
    assert rows[-1].startswith(completed_job)
    assert "completed" in rows[-1] and "100%" in rows[-1] and "2 normal" in rows[-1]

    jobs = cli("list", "--json").json()
    assert isinstance(jobs, list) and len(jobs) == 2
    assert jobs[-1]["id"] == completed_job
    assert {"id", "name", "status", "priority", "progress", "created_at"} <= set(jobs[-1])

    completed = cli("list", "--status", "completed", "--json").json()
    assert completed_job in [job["id"] for job in completed]

    page = cli("list", "--limit", "1")
    assert page.code == 0
    assert len(page.out.splitlines()) == 2
    assert page.err.startswith("more jobs: --all, or --next-token ")

    every = cli("--json", "list", "--all", "--limit", "1")
    assert [job["id"] for job in every.json()] == [job["id"] for job in jobs]
    assert every.err == ""


def test_get_readable_and_json(cli: Cli, completed_job: str) -> None:
    run = cli("get", completed_job)
    assert run.code == 0, run.err
    fields = {
        name.strip(): value.strip()
        for name, value in (line.split(":", 1) for line in run.out.splitlines())
    }
    assert fields["id"] == completed_job
    assert fields["status"] == "completed"
    assert fields["progress"] == "100%"
    assert fields["priority"] == "2 normal"
    assert "matched_results.json" in fields["result files"]

    job = cli("get", completed_job, "--json").json()
    assert job["id"] == completed_job
    assert job["status"] == "completed"
    assert isinstance(job["duration"], int)


def test_stats_table_and_json(cli: Cli, completed_job: str) -> None:
    stats = cli("stats", "--json").json()
    assert stats["completed"] == 2
    assert stats["total_jobs"] == 2
    assert stats["total_workers"] == 1

    run = cli("stats")
    assert run.code == 0, run.err
    rows = {line.split()[0]: line.split()[1:] for line in run.out.splitlines() if line.strip()}
    assert rows["STATUS"] == ["JOBS"]
    assert rows["completed"] == ["2"]
    assert rows["total"] == ["2"]
    assert run.out.splitlines()[-1].startswith("workers: ")


def test_download_delete_and_cleanup(cli: Cli, completed_job: str, tmp_path: Path) -> None:
    target = tmp_path / "dl"
    run = cli("download", completed_job, str(target))
    assert run.code == 0, run.err
    assert sorted(Path(p).name for p in run.out.splitlines()) == RESULT_FILES
    body = cli("download", completed_job, str(target), "--json").json()
    assert body["job_id"] == completed_job
    assert sorted(f["name"] for f in body["files"]) == RESULT_FILES
    assert all(f["size_bytes"] > 0 and Path(f["path"]).exists() for f in body["files"])

    deleted = cli("delete", completed_job, "--json")
    assert deleted.json() == {"success": True, "message": "Job deleted successfully"}
    gone = one_error_line(cli("get", completed_job))
    assert gone == f"404 Not Found: Job not found: {completed_job}"

    cleaned = cli("cleanup", "--max-age-hours", "1", "--json").json()
    assert cleaned["success"] is True
    assert cleaned["cleaned_jobs"] == 0  # the other job finished moments ago
    run = cli("cleanup")
    assert run.code == 0 and run.out.strip()
    assert one_error_line(cli("cleanup", "--max-age-hours", "500")).startswith("400 Bad Request")


def test_token_subcommand_mints_a_token_the_stack_accepts(
    stack: Stack, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATCHQ_JWT_SECRET", stack.secret)
    minted = cli("token", "--user", "cli-token-user", "--json").json()
    assert minted["user"] == "cli-token-user"
    stats = cli("stats", "--json", token_=minted["token"])
    assert stats.code == 0, stats.err
    assert stats.json()["total_jobs"] == 0


# --- error paths -------------------------------------------------------------------------


def test_unknown_job(cli: Cli, tmp_path: Path) -> None:
    for argv in (
        ["get", MISSING_JOB],
        ["cancel", MISSING_JOB],
        ["delete", MISSING_JOB],
        ["download", MISSING_JOB, str(tmp_path)],
    ):
        line = one_error_line(cli(*argv))
        assert line == f"404 Not Found: Job not found: {MISSING_JOB}", argv


def test_expired_token(cli: Cli, stack: Stack, user: str) -> None:
    line = one_error_line(cli("list", token_=stack.token(user, ttl=-120)))
    assert line.startswith("401 Unauthorized: Token has expired")
    assert "matchq token --user NAME" in line


def test_server_down(cli: Cli) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/v1"
    line = one_error_line(cli("stats", url=url))
    assert line.startswith(f"cannot reach {url} (")
    assert line.endswith("is the local stack running? (make run)")


def test_bad_config_files(cli: Cli, inputs: tuple[str, str], tmp_path: Path) -> None:
    files = ["submit", "--file1", inputs[0], "--file2", inputs[1]]
    missing = tmp_path / "nope.json"
    assert one_error_line(cli(*files, "--config", str(missing))) == (
        f"config file {missing} does not exist"
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"mappings": [')
    assert one_error_line(cli(*files, "--config", str(broken))).startswith(
        f"config file {broken} is not valid JSON"
    )
    unknown_column = tmp_path / "unknown.json"
    unknown_column.write_text(
        json.dumps({"mappings": [{"file1_col": "nmae", "file2_col": "full_name"}]})
    )
    line = one_error_line(cli(*files, "--config", str(unknown_column)))
    assert line.startswith("400 Bad Request: ")
    assert "nmae" in line
    assert one_error_line(cli(*files, "--map", "name=full_name:maybe")).startswith(
        "bad --map 'name=full_name:maybe': "
    )
    assert one_error_line(
        cli("submit", "--file1", str(tmp_path / "x.csv"), "--file2", inputs[1], "--map", "a=b")
    ) == (f"no such file: {tmp_path / 'x.csv'}")
