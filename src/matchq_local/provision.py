"""Creates the template's table, queues and bucket on an AWS endpoint (moto, locally)."""

from __future__ import annotations

import json
from typing import Any

from matchq_local.template import LocalStack, physical_name

_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
    "SqsManagedSseEnabled",
)
_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)

# CloudFormation's CORS rule keys and the S3 API's.
_CORS_KEYS = {
    "AllowedHeaders": "AllowedHeaders",
    "AllowedMethods": "AllowedMethods",
    "AllowedOrigins": "AllowedOrigins",
    "ExposedHeaders": "ExposeHeaders",
    "MaxAge": "MaxAgeSeconds",
}


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    attributes = {
        k: str(props[k]).lower() if isinstance(props[k], bool) else str(props[k])
        for k in _QUEUE_ATTRIBUTES
        if k in props
    }
    redrive = props.get("RedrivePolicy")
    if redrive:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                "maxReceiveCount": int(redrive["maxReceiveCount"]),
            }
        )
    return attributes


def provision(stack: LocalStack, session: Any) -> None:
    """Create every table, queue and bucket of `stack` (idempotent on an empty endpoint)."""
    sqs = session.client("sqs")
    queues = stack.of_type("AWS::SQS::Queue")
    # Dead-letter queues first: the others point at them.
    ordered = sorted(queues.items(), key=lambda kv: "RedrivePolicy" in kv[1]["Properties"])
    for logical_id, res in ordered:
        sqs.create_queue(
            QueueName=physical_name(logical_id), Attributes=_queue_attributes(res["Properties"])
        )

    dynamodb = session.client("dynamodb")
    for logical_id, res in stack.of_type("AWS::DynamoDB::Table").items():
        props = res["Properties"]
        args = {k: props[k] for k in _TABLE_KEYS if k in props}
        for index in args.get("GlobalSecondaryIndexes", []):
            index.pop("ContributorInsightsSpecification", None)
        dynamodb.create_table(TableName=physical_name(logical_id), **args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=physical_name(logical_id),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )

    s3 = session.client("s3")
    for logical_id, res in stack.of_type("AWS::S3::Bucket").items():
        name = physical_name(logical_id)
        s3.create_bucket(Bucket=name)
        cors = res["Properties"].get("CorsConfiguration")
        if cors:
            s3.put_bucket_cors(
                Bucket=name,
                CORSConfiguration={
                    "CORSRules": [
                        {_CORS_KEYS[k]: v for k, v in rule.items() if k in _CORS_KEYS}
                        for rule in cors.get("CorsRules", [])
                    ]
                },
            )
