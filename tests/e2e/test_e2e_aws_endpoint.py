"""The embedded AWS endpoint over real HTTP: what the local stack relies on it for."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from matchq_local.aws import MotoEndpoint, missing_tables, session

pytestmark = pytest.mark.e2e

ROUNDS = 25
CONTENDERS = 8


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    moto = MotoEndpoint(0).start()
    try:
        yield moto.url
    finally:
        moto.stop()


def test_conditional_writes_have_exactly_one_winner_under_concurrency(endpoint: str) -> None:
    """As in DynamoDB: of concurrent writes conditional on the same state, one succeeds."""
    dynamodb = session(endpoint).client("dynamodb")
    dynamodb.create_table(
        TableName="race",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    clients = [session(endpoint).client("dynamodb") for _ in range(CONTENDERS)]
    start = threading.Barrier(CONTENDERS)

    def claim(contender: int, item: str) -> bool:
        start.wait(timeout=10)
        try:
            clients[contender].update_item(
                TableName="race",
                Key={"pk": {"S": item}},
                UpdateExpression="SET #s = :mine",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":mine": {"S": f"claimed-by-{contender}"},
                    ":pending": {"S": "pending"},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    winners: list[int] = []
    # Switch threads far more often than the default 5 ms, so that without serialisation
    # two writes do meet between moto's condition check and its update.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(CONTENDERS) as pool:
            for round_ in range(ROUNDS):
                item = f"job-{round_}"
                dynamodb.put_item(
                    TableName="race", Item={"pk": {"S": item}, "status": {"S": "pending"}}
                )
                won = list(pool.map(claim, range(CONTENDERS), [item] * CONTENDERS))
                winners.append(sum(won))
                stored: Any = dynamodb.get_item(TableName="race", Key={"pk": {"S": item}})
                if sum(won) == 1:
                    assert stored["Item"]["status"]["S"] == f"claimed-by-{won.index(True)}"
    finally:
        sys.setswitchinterval(switch_interval)
    assert winners == [1] * ROUNDS


def test_probe_tells_a_stack_endpoint_from_an_empty_one_or_none(endpoint: str) -> None:
    dynamodb = session(endpoint).client("dynamodb")
    dynamodb.create_table(
        TableName="probe-table",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert missing_tables(endpoint, ["probe-table"]) is None
    assert "has no table other-table" in str(missing_tables(endpoint, ["other-table"]))
    nobody = "http://127.0.0.1:9"  # the discard port: nothing listens there
    assert "no AWS endpoint answers at" in str(missing_tables(nobody, ["probe-table"]))


def test_the_endpoint_binds_every_interface_when_asked() -> None:
    """MATCHQ_HOST=0.0.0.0: a Docker container reaches it through host.docker.internal."""
    moto = MotoEndpoint(0, "0.0.0.0")
    try:
        assert moto._server.server_address[0] == "0.0.0.0"
        assert moto.url == f"http://127.0.0.1:{moto.port}"  # how this machine reaches it
        moto.start()
        assert session(moto.url).client("sqs").list_queues().get("QueueUrls", []) == []
    finally:
        moto.stop()
