"""What travels on the job queues, as typed models (sent by `matchq.dal.queues`, read by the
worker through Powertools' parser)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json, model_validator


class MessageKind(StrEnum):
    """What a message asks the worker to do with its job."""

    JOB = "job"  # claim the pending job and run it (planning shards if it is big)
    SHARD = "shard"  # match one shard of a running, sharded job
    MERGE = "merge"  # merge the finished shards of a running job into its results


class JobMessage(BaseModel):
    """Work on this job (its record in the table says everything else).

    Shard and merge messages name the run they belong to: a message of an earlier run
    (the job was re-queued, cancelled or deleted since) changes nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(pattern=r"^job_[0-9a-f-]{36}$")
    priority: int = Field(ge=1, le=4)
    kind: MessageKind = MessageKind.JOB
    run_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    shard: int | None = Field(default=None, ge=0)
    attempt: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _names_its_run(self) -> JobMessage:
        if self.kind is not MessageKind.JOB and self.run_id is None:
            raise ValueError(f"a {self.kind.value} message needs run_id")
        if (self.kind is MessageKind.SHARD) != (self.shard is not None):
            raise ValueError("shard is given exactly for shard messages")
        return self


class JobRecord(SqsRecordModel):
    """An SQS record whose body is a JobMessage; a body that is not fails its record."""

    body: Json[JobMessage]  # type: ignore[assignment]


# --- notifications (matchq.dal.events -> the notifier -> the delivery function) ----------------

NOTIFIED_STATUSES = ("running", "completed", "failed", "cancelled")
EVENT_SOURCE = "matchq"  # the EventBridge source
EVENT_DETAIL_TYPE = "Match Job State Change"


class StateChange(BaseModel):
    """One job state change, on the notifications queue: the job object as it became.

    `event_id` is derived from the change itself (job, status, attempt, run), so two
    notifications of one change carry the same id and deliver once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(pattern=r"^evt_[0-9a-f]{32}$")
    type: str = Field(pattern=r"^job\.(running|completed|failed|cancelled)$")
    timestamp: str  # when the change happened (ISO-8601 UTC, microseconds)
    user_id: str
    job: dict[str, Any]  # the job object, as GET /jobs/{job_id} returns it

    @property
    def status(self) -> str:
        return self.type.removeprefix("job.")

    def payload(self) -> str:
        """The webhook body: {"type", "timestamp", "data"} (compact JSON)."""
        body = {"type": self.type, "timestamp": self.timestamp, "data": self.job}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class StateChangeRecord(SqsRecordModel):
    body: Json[StateChange]  # type: ignore[assignment]


class DeliveryMessage(BaseModel):
    """One state change for one webhook, on the deliveries queue. `delivery_id` is the
    `webhook-id` header: the same on every attempt, distinct per change and webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: str = Field(pattern=r"^msg_[0-9a-f]{32}$")
    webhook_id: str = Field(pattern=r"^wh_[0-9a-f-]{36}$")
    user_id: str
    event_type: str
    payload: str  # the exact body to sign and send


class DeliveryRecord(SqsRecordModel):
    body: Json[DeliveryMessage]  # type: ignore[assignment]


@dataclass(frozen=True)
class Attempt:
    """One receive of a delivery message."""

    message: DeliveryMessage
    message_id: str  # the SQS message id: the same on every attempt of one message
    receipt_handle: str
    receive_count: int


def delivery_id(event_id: str, webhook_id: str) -> str:
    digest = hashlib.sha256(f"{event_id}|{webhook_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"
