"""The `matchq` command line on a fake API (httpx.MockTransport under the SDK): options,
exit statuses, what each command sends and prints; --map, tables, progress lines."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from matchq_cli import render
from matchq_cli.configs import apply_options, load_config, parse_map, quick_config
from matchq_cli.errors import CliError, error_line
from matchq_cli.main import Globals, main
from matchq_cli.progress import ProgressReporter, bar, plain_line, progress_line
from matchq_client import ConnectionFailed, Job, NotFound, Unauthorized
from tests.unit.cli_fakes import BASE, JOB_ID, S3, FakeApi, Run

CLIENT_COMMANDS = [
    "submit",
    "list",
    "get",
    "summary",
    "file",
    "cancel",
    "delete",
    "stats",
    "cleanup",
    "download",
]
ALL_COMMANDS = ["serve", "token", "console", "invoke", *CLIENT_COMMANDS, "webhook"]


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


# --- a fake API under the CLI ------------------------------------------------------------


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def matchq(
    api: FakeApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Run]:
    """`matchq ARGS...` in this process, on the fake API; returns status, stdout, stderr."""
    monkeypatch.setenv("MATCHQ_URL", BASE)
    monkeypatch.setenv("MATCHQ_TOKEN", "tok")

    def run(*argv: str) -> Run:
        capsys.readouterr()
        code = main(list(argv), obj=Globals(transport=httpx.MockTransport(api)))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


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


def grant(file_id: str) -> httpx.Response:
    upload = {"url": S3, "fields": {"key": f"uploads/u/{file_id}/x.csv"}}
    return httpx.Response(201, json={"file_id": file_id, "upload": upload, "max_bytes": 1000})


def one_error_line(run: Run, code: int = 1) -> str:
    assert run.code == code, run
    assert run.err.startswith("matchq: error: "), run.err
    assert run.err.count("\n") == 1, run.err
    return run.err.removeprefix("matchq: error: ").rstrip("\n")


@pytest.fixture
def inputs(tmp_path: Path) -> list[str]:
    (tmp_path / "a.csv").write_text("name\nAnn\n")
    (tmp_path / "b.csv").write_text("full_name\nAnn\n")
    return ["--file1", str(tmp_path / "a.csv"), "--file2", str(tmp_path / "b.csv")]


# --- global options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        "--url http://a.test/api/v1 --token t --json stats",
        "stats --url http://a.test/api/v1 --token t --json",
        "--url http://b.test --token x stats --url http://a.test/api/v1 --token t --json",
    ],
    ids=["before", "after", "after-wins"],
)
def test_global_options_work_before_and_after_the_command(
    matchq: Callable[..., Run], api: FakeApi, argv: str
) -> None:
    api.on("GET", "http://a.test/api/v1/jobs/stats", httpx.Response(200, json={"running": 1}))
    run = matchq(*argv.split())
    assert run.code == 0, run.err
    assert run.json() == {"running": 1}
    assert api.routes() == ["GET a.test/api/v1/jobs/stats"]
    assert api.requests[0].headers["Authorization"] == "Bearer t"


def test_url_and_token_default_to_the_environment(
    matchq: Callable[..., Run], api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATCHQ_URL", "http://env.test/api/v1")
    monkeypatch.setenv("MATCHQ_TOKEN", "env-token")
    api.on("GET", "http://env.test/api/v1/jobs/list", httpx.Response(200, json=[]))
    run = matchq("list")
    assert (run.code, run.out) == (0, "(no jobs)\n")
    assert api.requests[0].headers["Authorization"] == "Bearer env-token"


def test_url_defaults_to_the_local_stack(
    matchq: Callable[..., Run], api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MATCHQ_URL")
    matchq("--token", "t", "list")
    assert str(api.requests[0].url) == "http://localhost:5000/api/v1/jobs/list"


def test_missing_token_is_one_clear_line(
    matchq: Callable[..., Run], api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MATCHQ_TOKEN")
    line = one_error_line(matchq("stats"))
    assert line.startswith("no token")
    assert "matchq token --user NAME" in line
    assert api.requests == []


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_every_command_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert f"matchq {command}" in out


def test_the_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    section = out.split("Commands:\n")[1].split("\n\n")[0]
    listed = [line.split()[0] for line in section.splitlines() if line[2] != " "]
    assert listed == ALL_COMMANDS


# --- usage errors: exit 2, one line, nothing sent ----------------------------------------


SUBMIT = "submit --file1 a --file2 b"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ("", "Missing command"),
        ("frobnicate", "No such command"),
        ("list --colour", "No such option"),
        ("get", "Missing argument 'JOB_ID'"),
        ("get ' '", "must not be empty"),
        ("list --limit 0", "--limit"),
        ("list --status done", "--status"),
        (SUBMIT, "--config"),
        (f"{SUBMIT} --config c.json --map a=b", "--config"),
        (f"{SUBMIT} --map a=b --priority 0", "--priority"),
        (f"{SUBMIT} --map a=b --priority x", "--priority"),
        (f"{SUBMIT} --map a=b --threshold 101", "--threshold"),
        ("token --user ' '", "--user"),
        ("serve --workers 0", "--workers"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    matchq: Callable[..., Run], api: FakeApi, argv: str, words: str
) -> None:
    line = one_error_line(matchq(*shlex.split(argv)), code=2)
    assert words in line
    assert line.endswith("--help)")
    assert api.requests == []


# --- client commands on the SDK ----------------------------------------------------------


def test_submit_uploads_both_files_then_submits(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str]
) -> None:
    api.on("POST", "/files", grant("file_1"), grant("file_2"))
    api.on("POST", S3, httpx.Response(204))
    api.on("POST", "/jobs/submit", httpx.Response(201, json={"job_id": JOB_ID}))
    run = matchq(
        "submit", *inputs, "--map", "name=full_name", "--threshold", "85", "--priority", "4"
    )
    assert (run.code, run.out) == (0, f"{JOB_ID}\n"), run.err
    hosts = [route.split()[1].split("/")[0] for route in api.routes()]
    assert hosts == ["api.test", "s3.test", "api.test", "s3.test", "api.test"]
    assert all("Authorization" not in r.headers for r in api.requests if r.url.host == "s3.test")
    body = json.loads(api.requests[-1].content)
    assert body == {
        "name": "a.csv vs b.csv",
        "config": {
            "mappings": [{"file1_col": "name", "file2_col": "full_name", "match_type": "fuzzy"}],
            "threshold": 85,
            "file1": "file_1",
            "file2": "file_2",
        },
        "priority": 4,
    }
    assert api.requests[-1].headers["Idempotency-Key"].startswith("sdk-")


def test_submit_passes_the_idempotency_key(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str]
) -> None:
    api.on("POST", "/files", grant("file_1"), grant("file_2"))
    api.on("POST", S3, httpx.Response(204))
    api.on("POST", "/jobs/submit", httpx.Response(201, json={"job_id": JOB_ID}))
    run = matchq("submit", *inputs, "--map", "a=b", "--idempotency-key", "nightly-2026-12-03")
    assert run.code == 0, run.err
    assert api.requests[-1].headers["Idempotency-Key"] == "nightly-2026-12-03"


def test_submit_wait_download_json(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str], tmp_path: Path
) -> None:
    api.on("POST", "/files", grant("file_1"), grant("file_2"))
    api.on("POST", S3, httpx.Response(204))
    api.on("POST", "/jobs/submit", httpx.Response(201, json={"job_id": JOB_ID}))
    api.on("GET", f"/jobs/{JOB_ID}", httpx.Response(200, json=job_json("completed", 100)))
    files = [{"name": "matched_results.json", "size_bytes": 2, "download_url": f"{S3}/m?sig=s"}]
    api.on("GET", f"/jobs/{JOB_ID}/results", httpx.Response(200, json={"files": files}))
    api.on("GET", f"{S3}/m", httpx.Response(200, content=b"[]"))
    out = tmp_path / "out"
    run = matchq("submit", *inputs, "--map", "a=b", "--download", str(out), "--json")
    assert run.code == 0, run.err
    body = run.json()
    assert body["job_id"] == JOB_ID and body["job"]["status"] == "completed"
    assert body["downloaded"] == [str(out / "matched_results.json")]
    assert (out / "matched_results.json").read_bytes() == b"[]"
    assert run.err == f"{JOB_ID} completed 100% elapsed 0s ETA 0s: completed 100\n"


def test_submit_of_a_job_that_fails_exits_1(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str]
) -> None:
    api.on("POST", "/files", grant("file_1"), grant("file_2"))
    api.on("POST", S3, httpx.Response(204))
    api.on("POST", "/jobs/submit", httpx.Response(201, json={"job_id": JOB_ID}))
    failed = job_json("failed", 10, error_message="Column 'x' not found")
    api.on("GET", f"/jobs/{JOB_ID}", httpx.Response(200, json=failed))
    run = matchq("submit", *inputs, "--map", "a=b", "--wait")
    assert run.out == f"{JOB_ID}\n"
    assert run.code == 1
    assert run.err.splitlines()[-1] == (f"matchq: error: job {JOB_ID} failed: Column 'x' not found")


def test_interrupted_wait_leaves_the_job_running(
    matchq: Callable[..., Run], api: FakeApi, inputs: list[str]
) -> None:
    api.on("POST", "/files", grant("file_1"), grant("file_2"))
    api.on("POST", S3, httpx.Response(204))
    api.on("POST", "/jobs/submit", httpx.Response(201, json={"job_id": JOB_ID}))
    api.on("GET", f"/jobs/{JOB_ID}", KeyboardInterrupt())
    run = matchq("submit", *inputs, "--map", "a=b", "--wait")
    assert run.code == 130
    assert f"job {JOB_ID} keeps running (matchq cancel {JOB_ID} stops it)" in run.err


def test_a_missing_input_file_is_reported_before_any_request(
    matchq: Callable[..., Run], api: FakeApi, tmp_path: Path
) -> None:
    missing = tmp_path / "x.csv"
    run = matchq("submit", "--file1", str(missing), "--file2", str(missing), "--map", "a=b")
    assert one_error_line(run) == f"no such file: {missing}"
    assert api.requests == []


def test_list_shows_a_table_and_says_when_more_jobs_exist(
    matchq: Callable[..., Run], api: FakeApi
) -> None:
    page = httpx.Response(200, json=[job_json()], headers={"X-Next-Token": "next"})
    api.on("GET", "/jobs/list", page)
    run = matchq("list", "--status", "running", "--limit", "1")
    assert run.code == 0
    assert run.out.splitlines()[1].startswith(JOB_ID)
    assert run.err == "more jobs: --all, or --next-token next\n"
    assert dict(api.requests[0].url.params) == {"status": "running", "limit": "1"}


def test_list_all_follows_every_page(matchq: Callable[..., Run], api: FakeApi) -> None:
    api.on(
        "GET",
        "/jobs/list",
        httpx.Response(200, json=[job_json(id="job_1")], headers={"X-Next-Token": "t1"}),
        httpx.Response(200, json=[job_json(id="job_2")]),
    )
    run = matchq("list", "--all", "--limit", "1", "--json")
    assert [job["id"] for job in run.json()] == ["job_1", "job_2"]
    assert api.requests[1].url.params["next_token"] == "t1"
    assert run.err == ""


def test_get_reads_the_job(matchq: Callable[..., Run], api: FakeApi) -> None:
    api.on("GET", f"/jobs/{JOB_ID}", httpx.Response(200, json=job_json()))
    assert matchq("get", JOB_ID, "--json").json() == job_json()
    assert f"id:           {JOB_ID}" in matchq("get", JOB_ID).out


@pytest.mark.parametrize(
    ("command", "method", "path", "text"),
    [
        ("cancel", "POST", f"/jobs/{JOB_ID}/cancel", f"cancelled {JOB_ID}\n"),
        ("delete", "DELETE", f"/jobs/{JOB_ID}", f"deleted {JOB_ID}\n"),
    ],
)
def test_cancel_and_delete_print_the_apis_answer(
    matchq: Callable[..., Run], api: FakeApi, command: str, method: str, path: str, text: str
) -> None:
    answer = {"success": True, "message": "Job done successfully"}
    api.on(method, path, httpx.Response(200, json=answer))
    assert matchq(command, JOB_ID).out == text
    assert matchq(command, JOB_ID, "--json").json() == answer
    assert [r.method for r in api.requests] == [method, method]


@pytest.mark.parametrize("command", ["get", "cancel", "delete", "download"])
def test_route_names_are_no_job_ids(
    matchq: Callable[..., Run], api: FakeApi, command: str, tmp_path: Path
) -> None:
    extra = [str(tmp_path)] if command == "download" else []
    assert one_error_line(matchq(command, "stats", *extra)) == "404 Not Found: Job not found: stats"
    assert api.requests == []


def test_api_errors_are_one_line(matchq: Callable[..., Run], api: FakeApi) -> None:
    body = {"error": "Conflict", "details": f"Job {JOB_ID} is already completed"}
    api.on("POST", f"/jobs/{JOB_ID}/cancel", httpx.Response(409, json=body))
    assert (
        one_error_line(matchq("cancel", JOB_ID))
        == f"409 Conflict: Job {JOB_ID} is already completed"
    )


def test_stats_and_cleanup(matchq: Callable[..., Run], api: FakeApi) -> None:
    api.on("GET", "/jobs/stats", httpx.Response(200, json={"completed": 2, "total_jobs": 2}))
    api.on("POST", "/jobs/cleanup", httpx.Response(200, json={"success": True, "cleaned_jobs": 3}))
    assert matchq("stats").out.splitlines()[3].split() == ["completed", "2"]
    assert matchq("cleanup", "--max-age-hours", "2").out == "cleaned 3 jobs, freed 0 MB\n"
    assert api.requests[-1].url.params["max_age_hours"] == "2"


def test_download_json_lists_the_files(
    matchq: Callable[..., Run], api: FakeApi, tmp_path: Path
) -> None:
    files = [{"name": "summary.json", "size_bytes": 2, "download_url": f"{S3}/s?sig=s"}]
    api.on("GET", f"/jobs/{JOB_ID}/results", httpx.Response(200, json={"files": files}))
    api.on("GET", f"{S3}/s", httpx.Response(200, content=b"{}"))
    run = matchq("download", JOB_ID, str(tmp_path / "dl"), "--json")
    path = str(tmp_path / "dl" / "summary.json")
    assert run.json() == {
        "job_id": JOB_ID,
        "files": [{"name": "summary.json", "path": path, "size_bytes": 2}],
    }


def test_unexpected_failures_are_one_line_too(
    matchq: Callable[..., Run], api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.on("GET", "/jobs/stats", lambda _request: httpx.Response(200, json=["not", "an object"]))
    line = one_error_line(matchq("stats"))
    assert line.startswith("200 Invalid Response: expected a JSON object")
    monkeypatch.setenv("MATCHQ_DEBUG", "1")
    assert "Traceback" in matchq("stats").err


# --- start-up and the local extra --------------------------------------------------------

BLOCK_LOCAL_EXTRA = """
import sys

class NoLocalExtra:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"boto3", "botocore", "moto", "pydantic", "jwt"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoLocalExtra())
from matchq_cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def matchq_without_local_extra(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_LOCAL_EXTRA, *argv],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["serve"],
        ["token", "--user", "alice"],
        ["console", "--user", "alice"],
        ["invoke", "JobStatsFunction", "--event", "e.json"],
    ],
)
def test_local_commands_without_the_extra_say_what_to_install(argv: list[str]) -> None:
    result = matchq_without_local_extra(*argv)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"matchq: error: matchq {argv[0]} needs the local extra")
    assert result.stderr.endswith("pip install 'matchq[local]'\n")


def test_help_and_client_commands_work_without_the_local_extra() -> None:
    assert matchq_without_local_extra("serve", "--help").returncode == 0
    down = matchq_without_local_extra("--url", "http://127.0.0.1:9", "--token", "t", "get", "stats")
    assert down.stderr == "matchq: error: 404 Not Found: Job not found: stats\n"


def test_the_command_line_loads_no_server_code_and_no_http_client() -> None:
    probe = (
        "import sys, matchq_cli.main\n"
        "heavy = ['httpx', 'pydantic', 'boto3', 'moto', 'matchq', 'matchq_local']\n"
        "print([name for name in heavy if name in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout == "[]\n", result.stderr


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


# --- matchq console ----------------------------------------------------------------------


def test_console_prints_the_consoles_address_with_a_token_that_signs_in(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import jwt

    secret = "console-test-secret-long-enough-for-hs256"
    monkeypatch.setenv("MATCHQ_JWT_SECRET", secret)
    monkeypatch.setenv("MATCHQ_URL", "http://localhost:8000/api/v1")
    assert main(["console", "--user", "alice", "--admin", "--ttl", "600"]) == 0
    root, token = capsys.readouterr().out.strip().split("#token=")
    assert root == "http://localhost:8000/"  # the console is at the API's root
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert (claims["sub"], claims["roles"], claims["exp"] - claims["iat"]) == (
        "alice",
        ["admin"],
        600,
    )


def test_console_runs_as_the_login_user_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import jwt

    monkeypatch.setenv("MATCHQ_JWT_SECRET", "console-test-secret-long-enough-for-hs256")
    monkeypatch.setenv("MATCHQ_USER", "bob")
    assert main(["--json", "console"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["url"].startswith("http://localhost:5000/#token=")
    token = answer["url"].split("#token=")[1]
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "bob"
