"""The local stack reads template.yaml: what it serves, and what it refuses to guess."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from matchq_local.template import TEMPLATE, UnsupportedTemplate, load_stack, parse_template

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return parse_template(TEMPLATE.read_text(encoding="utf-8"))


def edited(source: dict[str, Any], tmp_path: Path, edit: Edit) -> Path:
    """A copy of template.yaml with `edit` applied."""
    template = copy.deepcopy(source)
    edit(template)
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False), encoding="utf-8")
    return path


def cached_authorizer(template: dict[str, Any]) -> None:
    auth = template["Resources"]["MatchqApi"]["Properties"]["Auth"]["Authorizers"]
    auth["JwtAuthorizer"]["Identity"] = {"Headers": ["Authorization"], "ReauthorizeEvery": 300}


def token_authorizer(template: dict[str, Any]) -> None:
    auth = template["Resources"]["MatchqApi"]["Properties"]["Auth"]["Authorizers"]
    auth["JwtAuthorizer"]["FunctionPayloadType"] = "TOKEN"
    auth["JwtAuthorizer"]["Identity"] = {"Header": "Authorization", "ReauthorizeEvery": 0}


def greedy_path(template: dict[str, Any]) -> None:
    events = template["Resources"]["GetJobFunction"]["Properties"]["Events"]
    events["Proxy"] = {
        "Type": "Api",
        "Properties": {
            "RestApiId": {"Ref": "MatchqApi"},
            "Path": "/api/v1/{proxy+}",
            "Method": "GET",
        },
    }


def any_method(template: dict[str, Any]) -> None:
    events = template["Resources"]["GetJobFunction"]["Properties"]["Events"]
    events["Api"]["Properties"]["Method"] = "ANY"


def join_in_environment(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    variables["MATCHQ_JOINED"] = {"Fn::Join": ["-", ["a", "b"]]}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (cached_authorizer, "authorizer JwtAuthorizer: only REQUEST authorizers"),
        (token_authorizer, "authorizer JwtAuthorizer: only REQUEST authorizers"),
        (greedy_path, "/api/v1/{proxy+}: greedy path parameters are not served locally"),
        (any_method, "only Lambda proxy methods are served"),
        (join_in_environment, "Fn::Join is not evaluated by the local stack"),
    ],
)
def test_what_api_gateway_would_serve_differently_fails_loudly(
    source: dict[str, Any], tmp_path: Path, edit: Edit, message: str
) -> None:
    path = edited(source, tmp_path, edit)
    with pytest.raises(UnsupportedTemplate, match=re.escape(message)):
        load_stack("http://127.0.0.1:5001", path=path)


def test_a_misspelt_parameter_override_fails() -> None:
    with pytest.raises(UnsupportedTemplate, match=r"no parameter RetentionHour$"):
        load_stack("http://127.0.0.1:5001", parameters={"RetentionHour": "48"})


def test_parameter_overrides_reach_the_functions_environment() -> None:
    stack = load_stack("http://127.0.0.1:5001", parameters={"RetentionHours": "48"})
    assert {spec.environment["MATCHQ_RETENTION_HOURS"] for spec in stack.functions.values()} == {
        "48"
    }


def test_resources_resolve_to_the_local_endpoint() -> None:
    stack = load_stack("http://127.0.0.1:7777")
    env = stack.functions["SubmitJobFunction"].environment
    assert env["MATCHQ_TABLE_NAME"] == "matchq-local-jobstable"
    assert env["MATCHQ_QUEUE_URL_LOW"] == "http://127.0.0.1:7777/123456789012/matchq-local-lowqueue"
    low = stack.resources["LowQueue"]["Properties"]
    assert low["RedrivePolicy"]["deadLetterTargetArn"] == (
        "arn:aws:sqs:us-east-1:123456789012:matchq-local-lowdeadletterqueue"
    )


def test_only_the_resources_the_local_stack_serves_are_read() -> None:
    stack = load_stack("http://127.0.0.1:5001")
    kinds = {resource["Type"] for resource in stack.resources.values()}
    assert "AWS::CloudWatch::Alarm" not in kinds
    assert "AWS::IAM::Role" not in kinds
    assert {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket"} <= kinds


def test_a_route_with_authorizer_none_is_served_without_the_authorizer(
    source: dict[str, Any], tmp_path: Path
) -> None:
    def public_route(template: dict[str, Any]) -> None:
        events = template["Resources"]["JobStatsFunction"]["Properties"]["Events"]
        events["Public"] = {
            "Type": "Api",
            "Properties": {
                "RestApiId": {"Ref": "MatchqApi"},
                "Path": "/api/v1/public",
                "Method": "GET",
                "Auth": {"Authorizer": "NONE"},
            },
        }

    stack = load_stack("http://127.0.0.1:5001", path=edited(source, tmp_path, public_route))
    routes = {(r.method, r.path): r for r in stack.routes}
    assert routes[("GET", "/api/v1/public")].authorizer is None
    assert routes[("GET", "/api/v1/jobs/stats")].authorizer == "JwtAuthorizer"


def test_the_aws_endpoint_reaches_the_functions_only_through_the_template_parameter() -> None:
    given = load_stack("http://127.0.0.1:5001", parameters={"AwsEndpointUrl": "http://e:1"})
    assert {spec.environment["AWS_ENDPOINT_URL"] for spec in given.functions.values()} == {
        "http://e:1"
    }
    cloud = load_stack("http://127.0.0.1:5001")
    assert {spec.environment.get("AWS_ENDPOINT_URL", "") for spec in cloud.functions.values()} == {
        ""
    }
    assert all(
        "MATCHQ_AWS_ENDPOINT_URL" not in spec.environment for spec in cloud.functions.values()
    )
