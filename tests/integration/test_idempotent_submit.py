"""POST /jobs/submit with an Idempotency-Key: one job per (user, key), 409 on another body."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import CSV1, CSV2, AwsStack, api_event, call, match_config


def _body(aws: AwsStack, user: str = "alice", name: str = "n") -> dict[str, Any]:
    f1 = aws.upload(user, "customers.csv", CSV1)
    f2 = aws.upload(user, "people.csv", CSV2)
    return {"name": name, "config": match_config(f1, f2)}


def _submit(
    body: dict[str, Any], key: str | None, user: str = "alice", header: str = "Idempotency-Key"
) -> tuple[int, Any]:
    event = api_event("submit_job", user=user, body=body)
    if key is not None:
        event["headers"] = {**(event.get("headers") or {}), header: key}
        event["multiValueHeaders"] = {
            **(event.get("multiValueHeaders") or {}),
            header: [key],
        }
    status, answer, _ = call("submit_job", event)
    return status, answer


def _jobs(aws: AwsStack) -> int:
    table = aws.session.resource("dynamodb").Table(aws.table_name)
    return sum(1 for item in table.scan()["Items"] if str(item["job_id"]).startswith("job_"))


def test_a_repeated_key_returns_the_first_job_and_creates_nothing(aws: AwsStack) -> None:
    body = _body(aws)
    first = _submit(body, "order-42")
    again = _submit(body, "order-42", header="idempotency-key")  # any header case
    assert first[0] == again[0] == 200
    assert again[1]["job_id"] == first[1]["job_id"]
    assert _jobs(aws) == 1
    assert len(aws.receive(2)) == 1


def test_the_same_key_with_another_body_is_a_conflict(aws: AwsStack) -> None:
    body = _body(aws)
    assert _submit(body, "k1")[0] == 200
    status, answer = _submit({**body, "name": "other"}, "k1")
    assert status == 409
    assert answer["details"] == "Idempotency-Key was already used with a different request body"
    assert _jobs(aws) == 1


def test_keys_are_per_user_and_absent_keys_create_every_time(aws: AwsStack) -> None:
    a, b = _body(aws, "alice"), _body(aws, "bob")
    job_a = _submit(a, "shared-key", user="alice")[1]["job_id"]
    job_b = _submit(b, "shared-key", user="bob")[1]["job_id"]
    assert job_a != job_b
    assert _submit(a, None)[1]["job_id"] != _submit(a, None)[1]["job_id"]
    assert _jobs(aws) == 4


@pytest.mark.parametrize("key", ["", "x" * 129, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_refused(aws: AwsStack, key: str) -> None:
    status, answer = _submit(_body(aws), key)
    assert status == 400
    assert answer["details"] == "Idempotency-Key: must be 1 to 128 printable ASCII characters"
    assert _jobs(aws) == 0


def test_a_refused_submit_is_not_remembered(aws: AwsStack) -> None:
    body = _body(aws)
    broken = {
        **body,
        "config": {**body["config"], "file1": "file_33333333-3333-4333-8333-333333333333"},
    }
    assert _submit(broken, "retry-me")[0] == 400
    assert _submit(broken, "retry-me")[0] == 400  # checked again, not replayed
    assert _jobs(aws) == 0


# Concurrent duplicates are tested end to end (tests/e2e/test_e2e_idempotency.py): in-process
# moto applies a conditional write in two unlocked steps, which DynamoDB and the local
# stack's endpoint do not.
