"""The local gateway's reading of the template's authorizer answers."""

from __future__ import annotations

import pytest

from matchq.auth import Principal, authorize
from matchq.errors import Unauthorized
from matchq_local.gateway import authorizer_event, policy_allows


class _Verifier:
    """Accepts the token "good" as alice."""

    def verify(self, token: str) -> Principal:
        if token != "good":
            raise Unauthorized("Token signature is invalid")
        return Principal(user_id="alice")


def _event(token: str, path: str = "/api/v1/jobs/job_1") -> dict[str, object]:
    return authorizer_event(
        {"httpMethod": "GET", "path": path, "headers": {"Authorization": f"Bearer {token}"}}
    )


def test_the_templates_authorizer_allows_the_whole_stage_and_the_gateway_honours_it() -> None:
    event = _event("good")
    answer = authorize(event, _Verifier())  # type: ignore[arg-type]
    (statement,) = answer["policyDocument"]["Statement"]
    # A wildcard resource, not the method ARN: the gateway needs IAM wildcard matching.
    assert statement["Resource"] != event["methodArn"]
    assert statement["Resource"].endswith("/prod/*")
    assert policy_allows(answer["policyDocument"], str(event["methodArn"]))
    other_route = _event("good", "/api/v1/jobs/stats")
    assert policy_allows(answer["policyDocument"], str(other_route["methodArn"]))


def test_a_rejected_token_is_denied() -> None:
    event = _event("forged")
    answer = authorize(event, _Verifier())  # type: ignore[arg-type]
    assert not policy_allows(answer["policyDocument"], str(event["methodArn"]))


@pytest.mark.parametrize(
    ("resource", "allowed"),
    [
        ("arn:aws:execute-api:us-east-1:123456789012:matchqlocal/prod/GET/jobs", True),
        ("arn:aws:execute-api:us-east-1:123456789012:matchqlocal/prod/*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:matchqlocal/prod/???/jobs", True),
        ("arn:aws:execute-api:us-east-1:123456789012:matchqlocal/prod/POST/*", False),
        ("arn:aws:execute-api:us-east-1:123456789012:other/prod/*", False),
        ("arn:aws:execute-api:us-east-1:123456789012:matchqlocal/prod/GET/job[s]", False),
    ],
)
def test_iam_wildcards(resource: str, allowed: bool) -> None:
    policy = {
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}]
    }
    method = "arn:aws:execute-api:us-east-1:123456789012:matchqlocal/prod/GET/jobs"
    assert policy_allows(policy, method) is allowed


def test_an_explicit_deny_wins() -> None:
    stage = "arn:aws:execute-api:us-east-1:123456789012:matchqlocal/prod/*"
    policy = {
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage},
            {"Action": "execute-api:*", "Effect": "Deny", "Resource": stage},
        ]
    }
    assert not policy_allows(policy, stage.replace("*", "GET/jobs"))


def test_the_templates_gateway_responses_use_only_what_the_gateway_renders() -> None:
    from matchq_local.gateway import Gateway
    from matchq_local.lambda_runtime import FunctionRegistry
    from matchq_local.template import LocalStack, UnsupportedTemplate, load_stack

    stack = load_stack("http://127.0.0.1:5001")
    Gateway(stack, FunctionRegistry(stack))  # the template's own responses: accepted
    other = LocalStack(
        resources={},
        gateway_responses={
            "DEFAULT_4XX": {
                "responseTemplates": {"application/json": '{"id": "$context.requestId"}'}
            }
        },
    )
    with pytest.raises(UnsupportedTemplate, match=r"\$context\.requestId"):
        Gateway(other, FunctionRegistry(other))
