"""Webhooks and their delivery ledger, as items of the jobs table that no index holds.

Like the upload records (matchq.dal.files), no item here carries an attribute the table's
indexes are keyed on (`user_id`, `status`, `user_status`, `entity`, `created_key`), so no
job listing, count or maintenance query can return one. Three kinds:

- `wh_<uuid4>`: one webhook (owner, url, events, secret, created_at). The secret is stored
  as it is, because every delivery is signed with it; the table is encrypted at rest.
- `webhooks#<user>`: the user's webhooks for listing and fan-out without a scan: one
  attribute per webhook id (url, events, created_at; no secret) and the count `n`, which a
  condition keeps at most `limit`. Both items change in one transaction.
- `ledger#<id>`: who handles one state change (`evt_...`) or one delivery (`msg_...`): the
  SQS message that first claimed it. A second message of the same change (a duplicate
  notification) finds it claimed by another message and does nothing; the claiming
  message's own retries pass. After its last attempt a delivery is released, so a message
  redriven from the dead-letter queue may claim it. TTL `expires_at` after a week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from matchq.models import iso_precise, parse_ts

WEBHOOK = "webhook"
USER_WEBHOOKS = "webhooks"
LEDGER = "ledger"
LEDGER_TTL = timedelta(days=7)


class TooManyWebhooks(Exception):
    """The user has `limit` webhooks already."""


@dataclass(frozen=True)
class WebhookRecord:
    webhook_id: str
    user_id: str
    url: str
    events: tuple[str, ...]
    created_at: datetime
    secret: str | None = None  # only from `get` (the one read that signs)


def _user_key(user_id: str) -> str:
    return f"webhooks#{user_id}"


def _item(values: dict[str, Any]) -> dict[str, Any]:
    """As written: the resource's client serializes Python values itself."""
    return values


def _cancelled_by_condition(exc: ClientError) -> list[bool]:
    reasons = exc.response.get("CancellationReasons") or []
    return [r.get("Code") == "ConditionalCheckFailed" for r in reasons]


class WebhookStore:
    """Create, list, get and delete a user's webhooks."""

    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self._table = (resource or boto3.resource("dynamodb")).Table(table_name)
        self._name = table_name

    def create(self, record: WebhookRecord, *, limit: int) -> None:
        assert record.secret is not None
        summary = {
            "url": record.url,
            "events": list(record.events),
            "created_at": iso_precise(record.created_at),
        }
        try:
            self._table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._name,
                            "Item": _item(
                                {
                                    "job_id": record.webhook_id,
                                    "record": WEBHOOK,
                                    "owner": record.user_id,
                                    "secret": record.secret,
                                    **summary,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(job_id)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._name,
                            "Key": _item({"job_id": _user_key(record.user_id)}),
                            "UpdateExpression": "SET #id = :hook, #rec = :rec ADD #n :one",
                            "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
                            "ExpressionAttributeNames": {
                                "#id": record.webhook_id,
                                "#rec": "record",
                                "#n": "n",
                            },
                            "ExpressionAttributeValues": _item(
                                {
                                    ":hook": summary,
                                    ":rec": USER_WEBHOOKS,
                                    ":one": 1,
                                    ":limit": limit,
                                }
                            ),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                failed = _cancelled_by_condition(exc)
                if len(failed) > 1 and failed[1]:
                    raise TooManyWebhooks from None
            raise

    def list(self, user_id: str) -> list[WebhookRecord]:
        """The user's webhooks, oldest first, without secrets."""
        item = self._table.get_item(Key={"job_id": _user_key(user_id)}, ConsistentRead=True).get(
            "Item"
        )
        hooks = []
        for name, value in (item or {}).items():
            if name.startswith("wh_") and isinstance(value, dict):
                hooks.append(
                    WebhookRecord(
                        webhook_id=name,
                        user_id=user_id,
                        url=str(value["url"]),
                        events=tuple(str(e) for e in value["events"]),
                        created_at=parse_ts(str(value["created_at"])) or datetime.min,
                    )
                )
        return sorted(hooks, key=lambda h: (h.created_at, h.webhook_id))

    def get(self, webhook_id: str) -> WebhookRecord | None:
        """One webhook with its secret; None if there is none (any more)."""
        item: dict[str, Any] | None = self._table.get_item(
            Key={"job_id": webhook_id}, ConsistentRead=True
        ).get("Item")
        if not item or item.get("record") != WEBHOOK:
            return None
        return WebhookRecord(
            webhook_id=webhook_id,
            user_id=str(item["owner"]),
            url=str(item["url"]),
            events=tuple(str(e) for e in item["events"]),
            created_at=parse_ts(str(item["created_at"])) or datetime.min,
            secret=str(item["secret"]),
        )

    def delete(self, record: WebhookRecord) -> bool:
        """Remove a webhook; False when it was gone already."""
        try:
            self._table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._name,
                            "Key": _item({"job_id": record.webhook_id}),
                            "ConditionExpression": "#o = :owner",
                            "ExpressionAttributeNames": {"#o": "owner"},
                            "ExpressionAttributeValues": _item({":owner": record.user_id}),
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._name,
                            "Key": _item({"job_id": _user_key(record.user_id)}),
                            "UpdateExpression": "REMOVE #id ADD #n :minus",
                            "ConditionExpression": "attribute_exists(#id)",
                            "ExpressionAttributeNames": {"#id": record.webhook_id, "#n": "n"},
                            "ExpressionAttributeValues": _item({":minus": -1}),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return False
            raise
        return True


class Ledger:
    """At most one SQS message handles each state change and each delivery."""

    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self._table = (resource or boto3.resource("dynamodb")).Table(table_name)

    def claim(self, key: str, message_id: str, now: datetime) -> bool:
        """True when `message_id` may handle `key`: nobody claimed it yet, or it did itself
        and has not finished. False: another message has it, or it is done."""
        try:
            self._table.put_item(
                Item={
                    "job_id": f"ledger#{key}",
                    "record": LEDGER,
                    "handler": message_id,
                    "state": "claimed",
                    "claimed_at": iso_precise(now),
                    "expires_at": int((now + LEDGER_TTL).timestamp()),
                },
                ConditionExpression=Attr("job_id").not_exists()
                | Attr("state").eq("released")
                | (Attr("handler").eq(message_id) & Attr("state").ne("done")),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, key: str) -> None:
        """Its handler gave up (its message goes to the dead-letter queue): any message may
        claim `key` again, e.g. one redriven from there."""
        self._table.update_item(
            Key={"job_id": f"ledger#{key}"},
            UpdateExpression="SET #s = :released",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":released": "released"},
        )

    def done(self, key: str, outcome: str) -> None:
        self._table.update_item(
            Key={"job_id": f"ledger#{key}"},
            UpdateExpression="SET #s = :done, outcome = :outcome",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":done": "done", ":outcome": outcome},
        )
