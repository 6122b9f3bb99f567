"""Fixtures: fake AWS credentials before any client exists, and the template's resources
on moto with the services rewired to them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support import JWT_SECRET, AwsStack

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_DISABLED="true",
    POWERTOOLS_LOG_LEVEL="WARNING",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsStack]:
    """A fresh moto account holding what template.yaml defines; services rewired to it."""
    import boto3
    from moto import mock_aws

    from matchq.services import wiring
    from matchq_local.provision import provision
    from matchq_local.template import load_stack

    with mock_aws():
        stack = load_stack("https://sqs.us-east-1.amazonaws.com")
        session = boto3.Session()
        provision(stack, session)
        env = dict(stack.functions["SubmitJobFunction"].environment)
        env.update(
            MATCHQ_JWT_SECRET=JWT_SECRET,
            MATCHQ_HEARTBEAT_INTERVAL_SECONDS="0",
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        wiring.reset()
        from matchq.auth import default_verifier

        default_verifier.cache_clear()
        yield AwsStack(env=env, session=session)
        wiring.reset()
        default_verifier.cache_clear()
