"""What `sam local invoke` gives a function, computed with SAM CLI's own code.

SAM CLI resolves the template with `--parameter-overrides`, then overrides the variables
the template declares with `--env-vars` (env/local-env.json). The functions must reach
the local stack's AWS endpoint that way, with nothing in production code for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("samcli")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ENV_FILE = ROOT / "env" / "local-env.json"
DOCKER_ENDPOINT = "http://host.docker.internal:5001"


def sam_environment(
    function: str, parameter_overrides: dict[str, str], env_vars: dict[str, Any] | None = None
) -> dict[str, str]:
    """The environment `sam local invoke FUNCTION` starts the container with."""
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
    from samcli.local.lambdafn.env_vars import EnvironmentVariables

    stacks, _ = SamLocalStackProvider.get_stacks(
        str(TEMPLATE), parameter_overrides=parameter_overrides
    )
    spec = SamFunctionProvider(stacks, ignore_code_extraction_warnings=True).get(function)
    assert spec is not None
    variables = EnvironmentVariables(
        spec.name,
        spec.memory,
        spec.timeout,
        spec.handler,
        spec.logging_config,
        variables=(spec.environment or {}).get("Variables", {}),
        shell_env_values={},
        override_values=(env_vars or {}).get(function, {}),
        aws_creds={},
    )
    return dict(variables.resolve())


@pytest.fixture(scope="module", autouse=True)
def _offline_sam() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("SAM_CLI_TELEMETRY", "0")
        yield


def test_the_parameter_override_points_every_function_at_the_local_endpoint() -> None:
    env = sam_environment("GetJobFunction", {"AwsEndpointUrl": DOCKER_ENDPOINT})
    assert env["AWS_ENDPOINT_URL"] == DOCKER_ENDPOINT
    worker = sam_environment("WorkerFunction", {"AwsEndpointUrl": DOCKER_ENDPOINT})
    assert worker["AWS_ENDPOINT_URL"] == DOCKER_ENDPOINT


def test_without_the_override_boto3_uses_aws_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    env = sam_environment("GetJobFunction", {})
    # SAM CLI declares every template variable; an empty endpoint is no endpoint for boto3.
    assert env.get("AWS_ENDPOINT_URL", "") == ""
    monkeypatch.setenv("AWS_ENDPOINT_URL", env.get("AWS_ENDPOINT_URL", ""))
    client = boto3.client("sqs", region_name="us-east-1")
    assert client.meta.endpoint_url == "https://sqs.us-east-1.amazonaws.com"


def test_the_env_file_names_the_local_resources() -> None:
    env_vars = json.loads(ENV_FILE.read_text(encoding="utf-8"))
    env = sam_environment("SubmitJobFunction", {"AwsEndpointUrl": DOCKER_ENDPOINT}, env_vars)
    assert env["MATCHQ_TABLE_NAME"] == "matchq-local-jobstable"
    assert env["MATCHQ_QUEUE_URL_URGENT"] == (
        f"{DOCKER_ENDPOINT}/123456789012/matchq-local-urgentqueue"
    )
    assert "MATCHQ_AWS_ENDPOINT_URL" not in env


def test_the_env_file_is_what_the_template_gives() -> None:
    from matchq_local.envfile import env_document

    assert json.loads(ENV_FILE.read_text(encoding="utf-8")) == env_document(), (
        "env/local-env.json is stale: run .venv/bin/python -m matchq_local.envfile"
    )
