"""The four priority queues."""

from __future__ import annotations

from typing import Any

import boto3

from matchq.messages import JobMessage

BATCH = 10  # SendMessageBatch takes at most ten entries


class JobQueues:
    """Sends job messages to the queue of their priority (1 low .. 4 urgent)."""

    def __init__(self, queue_urls: dict[int, str], client: Any | None = None) -> None:
        self._urls = queue_urls
        self._client = client or boto3.client("sqs")

    def _url(self, priority: int) -> str:
        url = self._urls.get(priority)
        if url is None:
            raise RuntimeError(f"no queue configured for priority {priority}")
        return url

    def enqueue(self, job_id: str, priority: int) -> None:
        self.send(JobMessage(job_id=job_id, priority=priority))

    def send(self, message: JobMessage) -> None:
        """One message, on the queue of its job's priority."""
        self._client.send_message(
            QueueUrl=self._url(message.priority),
            MessageBody=message.model_dump_json(exclude_defaults=True),
        )

    def send_all(self, messages: list[JobMessage]) -> None:
        """Many messages, ten per request; raises when any of them was not accepted."""
        for start in range(0, len(messages), BATCH):
            batch = messages[start : start + BATCH]
            for priority in sorted({m.priority for m in batch}):
                entries: list[Any] = [
                    {"Id": str(i), "MessageBody": m.model_dump_json(exclude_defaults=True)}
                    for i, m in enumerate(batch)
                    if m.priority == priority
                ]
                answer = self._client.send_message_batch(
                    QueueUrl=self._url(priority), Entries=entries
                )
                if answer.get("Failed"):
                    failed = answer["Failed"][0]
                    raise RuntimeError(
                        f"{len(answer['Failed'])} messages were not queued: "
                        f"{failed.get('Code')} {failed.get('Message', '')}".strip()
                    )
