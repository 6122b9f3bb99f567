"""`pip install .` in a fresh venv: a working `matchq` and SDK, without the service's packages.

The base install is what a client needs (httpx, click); the service, its local stack and
the matching libraries come only with the `local` extra.
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest

from tests.support import ROOT

# Distributions a client never needs: the engine, the service edge, the local stack, SAM.
SERVICE_ONLY = {
    "pandas",
    "numpy",
    "rapidfuzz",
    "openpyxl",
    "moto",
    "boto3",
    "botocore",
    "aws-lambda-powertools",
    "pydantic",
    "pyjwt",
    "aws-sam-cli",
    "aws-sam-translator",
}


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("client-venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return home


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(home / "bin" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": str(home / "bin"), "HOME": str(home)},
        cwd=ROOT,
    )


def test_the_base_install_has_none_of_the_service_packages(client_venv: Path) -> None:
    listed = run(client_venv, "python", "-m", "pip", "list", "--format", "json")
    installed = {d["name"].lower() for d in json.loads(listed.stdout)}
    assert {"matchq", "httpx", "click"} <= installed
    assert installed & SERVICE_ONLY == set()


def test_the_cli_and_the_sdk_work_from_the_base_install(client_venv: Path) -> None:
    helped = run(client_venv, "matchq", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "submit" in helped.stdout
    imported = run(
        client_venv,
        "python",
        "-c",
        "import matchq_client, sys; print(matchq_client.MatchqClient.__name__);"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matchq', 'pydantic')))",
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split("\n")[:2] == ["MatchqClient", "[]"]
    # A call goes through the SDK to the network and fails as a client error, not an import.
    called = run(
        client_venv, "matchq", "--url", "http://127.0.0.1:9/api/v1", "--token", "t", "stats"
    )
    assert called.returncode == 1
    assert called.stderr.startswith("matchq: error:"), called.stderr
    assert "Traceback" not in called.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("serve",),
        ("token", "--user", "alice"),
        ("invoke", "GetJobFunction", "--event", "events/get_job.json"),
    ],
)
def test_local_stack_commands_name_the_extra_they_need(
    client_venv: Path, command: tuple[str, ...]
) -> None:
    result = run(client_venv, "matchq", *command)
    assert result.returncode == 2
    assert "matchq[local]" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
