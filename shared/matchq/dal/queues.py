"""The four priority queues."""

from __future__ import annotations

import json
from typing import Any

import boto3


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
            QueueUrl=url, MessageBody=json.dumps({"job_id": job_id, "priority": priority})
        )
