"""`matchq invoke`: one function of the template against the local stack's AWS endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from matchq_client import MatchqClient
from matchq_local.launch import free_port
from tests.e2e.e2e_support import TINY_CONFIG, Stack, tiny_files

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def matchq_invoke(
    function: str, event: dict[str, Any], aws_port: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """`matchq invoke FUNCTION --event FILE` in a process of its own (it sets os.environ)."""
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MATCHQ_"))}
    env.update(
        MATCHQ_AWS_PORT=aws_port,
        PYTHONPATH=os.pathsep.join([str(ROOT / "shared"), str(ROOT / "src")]),
    )
    return subprocess.run(
        [sys.executable, "-m", "matchq_cli.main", "invoke", function, "--event", str(event_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stats_event(user: str) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "job_stats.json").read_text())
    event["requestContext"]["authorizer"].update(principalId=user, user_id=user)
    return event


def test_invoke_runs_against_the_running_stack(
    stack: Stack, api: MatchqClient, user: str, tmp_path: Path
) -> None:
    left, right = tiny_files(tmp_path / "in")
    config = {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)}
    api.submit_job("for invoke", config, priority=1)

    run = matchq_invoke(
        "JobStatsFunction", stats_event(user), stack.aws_endpoint.rsplit(":", 1)[1], tmp_path
    )

    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # the stack answered: nothing to warn about
    response = json.loads(run.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["total_jobs"] == 1  # the job submitted above


def test_invoke_without_a_stack_says_so_and_uses_a_temporary_endpoint(tmp_path: Path) -> None:
    port = str(free_port())  # nothing listens there
    run = matchq_invoke("JobStatsFunction", stats_event("nobody"), port, tmp_path)

    assert run.returncode == 0, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"matchq invoke: no AWS endpoint answers at http://127.0.0.1:{port}")
    assert "temporary AWS endpoint" in line
    response = json.loads(run.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["total_jobs"] == 0


def test_invoke_with_a_user_puts_a_fresh_token_of_that_user_in_the_event(
    stack: Stack, tmp_path: Path
) -> None:
    event = json.loads((ROOT / "events" / "authorizer.json").read_text())
    assert "<token>" in json.dumps(event)
    event_file = tmp_path / "authorizer.json"
    event_file.write_text(json.dumps(event))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MATCHQ_"))}
    env.update(
        MATCHQ_AWS_PORT=stack.aws_endpoint.rsplit(":", 1)[1],
        PYTHONPATH=os.pathsep.join([str(ROOT / "shared"), str(ROOT / "src")]),
    )
    run = subprocess.run(
        [
            *(sys.executable, "-m", "matchq_cli.main", "invoke", "AuthorizerFunction"),
            *("--event", str(event_file), "--user", "carol"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    policy = json.loads(run.stdout)
    assert policy["principalId"] == "carol"
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
