"""The HTTP edge: every malformed input is a 400 (or 413) with the error body, never a 5xx."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.support import AwsStack, api_event, call, error_body_ok, match_config


def raw(folder: str, body: str, **extra: Any) -> tuple[int, Any]:
    event = api_event(folder)
    event["body"] = body
    event.update(extra)
    status, answer, _ = call(folder, event)
    return status, answer


@pytest.mark.parametrize("folder", ["submit_job", "create_upload"])
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[" * 10_000 + "]" * 10_000, "nested too deeply"),
        ('{"filename": NaN}', "NaN is not a JSON number"),
        ('{"filename": "\\ud800.csv"}', "unpaired surrogate"),
        ("", "Request body is required"),
        ("[1, 2]", "Request body must be a JSON object"),
        ('"a string"', "Request body must be a JSON object"),
    ],
)
def test_a_malformed_body_is_a_400_saying_why(
    aws: AwsStack, folder: str, body: str, words: str
) -> None:
    status, answer = raw(folder, body)
    assert status == 400 and error_body_ok(answer, "Bad Request")
    assert words in answer["details"]


@pytest.mark.parametrize("folder", ["submit_job", "create_upload"])
def test_a_body_that_is_not_utf8_is_a_400(aws: AwsStack, folder: str) -> None:
    body = base64.b64encode(b'{"filename": "\xff.csv"}').decode()
    status, answer = raw(folder, body, isBase64Encoded=True)
    assert status == 400 and "not valid UTF-8 (byte 14)" in answer["details"]


def test_a_body_over_the_limit_is_a_413(aws: AwsStack) -> None:
    status, answer = raw("create_upload", '{"filename": "' + "a" * 300_000 + '.csv"}')
    assert status == 413 and error_body_ok(answer, "Content Too Large")


def test_the_body_is_json_whatever_its_content_type(aws: AwsStack) -> None:
    event = api_event("create_upload", body={"filename": "people.csv"})
    event["headers"]["Content-Type"] = "application/x-www-form-urlencoded"
    event["multiValueHeaders"] = None
    status, answer, _ = call("create_upload", event)
    assert status == 201 and answer["filename"] == "people.csv"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"threshold": "80"}, "config.threshold"),
        ({"generate_unmatched": "yes"}, "config.generate_unmatched"),
        ({"match_mode": 3}, "config.match_mode"),
    ],
)
def test_config_values_are_strictly_typed(
    aws: AwsStack, override: dict[str, Any], field: str
) -> None:
    f1 = aws.upload("alice", "a.csv", "customer_name\nx\n")
    body = {"name": "n", "config": match_config(f1, f1, **override)}
    status, answer, _ = call("submit_job", api_event("submit_job", body=body))
    assert status == 400 and answer["details"].startswith(f"{field}:")


def test_a_weight_given_as_text_is_refused(aws: AwsStack) -> None:
    f1 = aws.upload("alice", "a.csv", "customer_name\nx\n")
    config = match_config(f1, f1)
    config["mappings"][0]["weight"] = "1"
    status, answer, _ = call(
        "submit_job", api_event("submit_job", body={"name": "n", "config": config})
    )
    assert status == 400 and answer["details"].startswith("config.mappings[0].weight:")


@pytest.mark.parametrize(
    ("folder", "query", "field"),
    [
        ("list_jobs", {"limit": "abc"}, "limit"),
        ("list_jobs", {"limit": "1001"}, "limit"),
        ("list_jobs", {"status": "nope"}, "status"),
        ("cleanup_jobs", {"max_age_hours": "0"}, "max_age_hours"),
        ("cleanup_jobs", {"max_age_hours": "1.5"}, "max_age_hours"),
    ],
)
def test_a_bad_query_parameter_is_named(
    aws: AwsStack, folder: str, query: dict[str, str], field: str
) -> None:
    status, answer, _ = call(folder, api_event(folder, query=query))
    assert status == 400 and error_body_ok(answer, "Bad Request")
    assert answer["details"].startswith(f"{field}: ")
