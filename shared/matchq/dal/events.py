"""Job state changes leave the job side here: one small SQS message per change on the
notifications queue (`JobEvents`), which the notifier fans out to webhooks and puts on
EventBridge (`EventBus`); and the deliveries queue the notifier feeds (`DeliveryQueue`).

`JobRepository` calls `JobEvents.changed` after every successful status transition, so
no change is missed whichever code path made it (worker, shards, cancel, reaper). A
failed send is logged and counted, never raised: the transition is already written and a
job must not fail because a notification could not be queued.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3

from matchq.messages import (
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    NOTIFIED_STATUSES,
    DeliveryMessage,
    StateChange,
)
from matchq.models import Job, JobStatus, iso_precise, utcnow
from matchq.observability import logger, metrics

BATCH = 10


def event_id(job: Job) -> str:
    """Stable per change: a job runs once per attempt (and run), ends once."""
    key = f"{job.id}|{job.status.value}|{job.attempts}|{job.run_id or ''}"
    return f"evt_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def state_change(job: Job) -> StateChange | None:
    """The notification of the state `job` is now in; None for a state nobody is told of."""
    if job.status.value not in NOTIFIED_STATUSES:
        return None
    at = job.started_at if job.status is JobStatus.RUNNING else job.completed_at
    return StateChange(
        event_id=event_id(job),
        type=f"job.{job.status.value}",
        timestamp=iso_precise(at or utcnow()),
        user_id=job.user_id,
        job=job.to_api().model_dump(mode="json"),
    )


class JobEvents:
    """Sends one state-change message per notified transition to the notifications queue."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self._url = queue_url
        self._client = client or boto3.client("sqs")

    def changed(self, job: Job) -> None:
        change = state_change(job)
        if change is None:
            return
        try:
            self._client.send_message(QueueUrl=self._url, MessageBody=change.model_dump_json())
        except Exception:
            logger.exception(
                "state change not queued for notification",
                extra={"job_id": job.id, "status": job.status.value},
            )
            metrics.add_metric(name="NotificationsNotQueued", unit="Count", value=1)


class EventBus:
    """Puts state changes on an EventBridge bus (source `matchq`, as AWS Batch does)."""

    def __init__(self, bus_name: str, client: Any | None = None) -> None:
        self._bus = bus_name
        self._client = client or boto3.client("events")

    def put(self, change: StateChange) -> None:
        answer = self._client.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": EVENT_DETAIL_TYPE,
                    "Detail": json.dumps(change.job, separators=(",", ":")),
                    "EventBusName": self._bus,
                    "Resources": [],
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            entries: list[dict[str, Any]] = answer.get("Entries", [])
            entry = next((e for e in entries if e.get("ErrorCode")), {})
            raise RuntimeError(
                f"EventBridge refused the event: {entry.get('ErrorCode')} "
                f"{entry.get('ErrorMessage', '')}".strip()
            )


class DeliveryQueue:
    """The deliveries queue: one message per (state change, webhook); retries move a
    message's next attempt later with ChangeMessageVisibility."""

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self._url = queue_url
        self._client = client or boto3.client("sqs")

    def send_all(self, messages: list[DeliveryMessage]) -> None:
        for start in range(0, len(messages), BATCH):
            entries: list[Any] = [
                {"Id": str(i), "MessageBody": m.model_dump_json()}
                for i, m in enumerate(messages[start : start + BATCH])
            ]
            answer = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            if answer.get("Failed"):
                failed = answer["Failed"][0]
                raise RuntimeError(
                    f"{len(answer['Failed'])} deliveries were not queued: "
                    f"{failed.get('Code')} {failed.get('Message', '')}".strip()
                )

    def retry_in(self, receipt_handle: str, seconds: int) -> None:
        """The next attempt of a received message in `seconds` (0: at once)."""
        self._client.change_message_visibility(
            QueueUrl=self._url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
