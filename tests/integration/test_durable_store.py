"""The durable store under the embedded endpoint: every kind of write the services make is
journaled, and a fresh endpoint restored from the data dir answers as the old one did."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from matchq_local.aws import MotoEndpoint, session
from matchq_local.durable import DataDirInUse, StateStore

TABLE, BUCKET, QUEUE, DLQ = "items", "objects-bucket", "work", "work-dlq"


@pytest.fixture
def endpoint() -> Iterator[Any]:
    def start(store: StateStore) -> MotoEndpoint:
        running = MotoEndpoint(0, store=store).start()
        httpx.post(f"{running.url}/moto-api/reset")  # moto's backends are per process
        aws = session(running.url)
        aws.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        aws.client("s3").create_bucket(Bucket=BUCKET)
        sqs = aws.client("sqs")
        dlq = sqs.create_queue(QueueName=DLQ)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
        sqs.create_queue(
            QueueName=QUEUE,
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": arn["Attributes"]["QueueArn"], "maxReceiveCount": "2"}
                ),
            },
        )
        return running

    started: list[MotoEndpoint] = []

    def factory(store: StateStore) -> Any:
        started.append(start(store))
        store.restore()  # as `matchq serve` does after provisioning
        return session(started[-1].url)

    yield factory
    for running in started:
        running.stop()


def _items(aws: Any) -> list[dict[str, Any]]:
    return sorted(
        aws.client("dynamodb").scan(TableName=TABLE)["Items"],
        key=lambda item: (item["pk"]["S"], item["sk"]["S"]),
    )


def _objects(aws: Any) -> dict[str, tuple[bytes, str, dict[str, str], str]]:
    s3 = aws.client("s3")
    found = {}
    for entry in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        got = s3.get_object(Bucket=BUCKET, Key=entry["Key"])
        found[entry["Key"]] = (got["Body"].read(), got["ETag"], got["Metadata"], got["ContentType"])
    return found


def _bodies(aws: Any, name: str) -> list[tuple[str, str]]:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
    ).get("Messages", [])
    return sorted((m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in got)


def test_every_write_kind_survives_a_restart(endpoint: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = StateStore(data)
    aws = endpoint(store)
    dynamodb = aws.client("dynamodb")
    item = {"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}, "l": {"L": [{"S": "x"}]}}
    dynamodb.put_item(TableName=TABLE, Item=item)
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "gone"}, "sk": {"S": "1"}})
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "a"}, "sk": {"S": "1"}},
        UpdateExpression="ADD n :one SET m = :m",
        ExpressionAttributeValues={":one": {"N": "1"}, ":m": {"M": {"k": {"S": "v"}}}},
    )
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "gone"}, "sk": {"S": "1"}})
    dynamodb.batch_write_item(
        RequestItems={
            TABLE: [
                {"PutRequest": {"Item": {"pk": {"S": f"b{i}"}, "sk": {"S": "1"}}}} for i in range(3)
            ]
        }
    )
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "t"}, "sk": {"S": "1"}}}},
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "b0"}, "sk": {"S": "1"}}}},
        ]
    )
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(
            TableName=TABLE,
            Item={"pk": {"S": "t"}, "sk": {"S": "1"}, "x": {"S": "no"}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    s3 = aws.client("s3")
    s3.put_object(
        Bucket=BUCKET,
        Key="uploads/ü é.csv",
        Body=b"a,b\n",
        ContentType="text/csv",
        Metadata={"owner": "alice"},
    )
    s3.put_object(Bucket=BUCKET, Key="over/written", Body=b"first")
    s3.put_object(Bucket=BUCKET, Key="over/written", Body=b"second")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # past boto3's multipart threshold
    s3.upload_file(str(big), BUCKET, "results/big.bin")
    for key in ("x/1", "x/2"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "x/1"}, {"Key": "x/2"}]})
    s3.put_object(Bucket=BUCKET, Key="deleted", Body=b"x")
    s3.delete_object(Bucket=BUCKET, Key="deleted")
    post = s3.generate_presigned_post(BUCKET, "uploads/form.csv")
    answer = httpx.post(post["url"], data=post["fields"], files={"file": ("f.csv", b"q,r\n")})
    assert answer.status_code == 204, answer.text

    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    for body in ("kept", "received", "done", "dead"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]:
        if message["Body"] == "done":
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)  # second receive of 3 messages
    # a third receive moves all three to the dead-letter queue (maxReceiveCount 2)
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    sqs.send_message(QueueUrl=url, MessageBody="fresh")

    items, objects = _items(aws), _objects(aws)
    assert len(items) == 4 and "results/big.bin" in objects and "x/1" not in objects
    assert objects["over/written"][0] == b"second"
    assert len(list((data / "objects").iterdir())) == len(objects)  # one file each, no leftovers
    store.close()  # as a kill would: nothing is flushed at close

    restored_store = StateStore(data)
    aws = endpoint(restored_store)
    assert _items(aws) == items
    assert _objects(aws) == objects
    assert _bodies(aws, QUEUE) == [("fresh", "1")]
    assert [body for body, _ in _bodies(aws, DLQ)] == ["dead", "kept", "received"]


def test_a_data_dir_is_locked_while_in_use(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    with pytest.raises(DataDirInUse, match="is in use by another local stack"):
        StateStore(tmp_path)
    store.close()
    StateStore(tmp_path).close()
