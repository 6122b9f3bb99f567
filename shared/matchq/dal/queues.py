"""The four priority queues."""

from __future__ import annotations

from typing import Any

import boto3

from matchq.messages import JobMessage


class JobQueues:
    """Sends job ids to the queue of their priority (1 low .. 4 urgent)."""

    def __init__(self, queue_urls: dict[int, str], client: Any | None = None) -> None:
        self._urls = queue_urls
        self._client = client or boto3.client("sqs")

    def enqueue(self, job_id: str, priority: int) -> None:
        url = self._urls.get(priority)
        if url is None:
            raise RuntimeError(f"no queue configured for priority {priority}")
        self._client.send_message(
            QueueUrl=url,
            MessageBody=JobMessage(job_id=job_id, priority=priority).model_dump_json(),
        )
