"""The worker pool: SQS messages fed to the worker handler, strictly by priority.

In the cloud each priority queue has its own event source mapping. Locally a fixed number
of slots share the four queues: a free slot takes the oldest message of the highest
non-empty queue, so with one slot jobs start strictly by priority, FIFO within one.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from matchq_local.lambda_runtime import LocalFunction
from matchq_local.template import ACCOUNT, REGION, EventSource, LocalStack, physical_name, queue_url

log = logging.getLogger("matchq.local")

# An idle slot polls every IDLE_SLEEP_SECONDS (about 9 % of a core for the stack's 4-5
# queues); for ACTIVE_WINDOW_SECONDS after it last worked (the next job of a user, a
# sharded job's shard and merge messages) every ACTIVE_SLEEP_SECONDS.
IDLE_SLEEP_SECONDS = 0.2
ACTIVE_SLEEP_SECONDS = 0.02
ACTIVE_WINDOW_SECONDS = 10.0
PRIORITY_ENV = {
    "MATCHQ_QUEUE_URL_URGENT": 4,
    "MATCHQ_QUEUE_URL_HIGH": 3,
    "MATCHQ_QUEUE_URL_NORMAL": 2,
    "MATCHQ_QUEUE_URL_LOW": 1,
}


@dataclass(frozen=True)
class PolledQueue:
    """One event source mapping as the pool sees it."""

    name: str  # logical id, e.g. UrgentQueue
    url: str
    arn: str
    priority: int
    source: EventSource


def polled_queues(stack: LocalStack, endpoint: str, function: str) -> list[PolledQueue]:
    """The queues feeding `function`, highest priority first (priorities from its environment).

    A function fed by one queue (the notifier, the webhook deliveries) needs no priority;
    one fed by several (the worker) must name each in a MATCHQ_QUEUE_URL_* variable.
    """
    env = stack.functions[function].environment
    priority_of = {env[var]: p for var, p in PRIORITY_ENV.items() if env.get(var)}
    sources = [source for source in stack.event_sources if source.function == function]
    queues = []
    for source in sources:
        url = queue_url(source.queue, endpoint)
        if url not in priority_of and len(sources) > 1:
            raise RuntimeError(
                f"queue {source.queue} of {function} has no MATCHQ_QUEUE_URL_* priority"
            )
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{physical_name(source.queue)}"
        queues.append(PolledQueue(source.queue, url, arn, priority_of.get(url, 0), source))
    queues.sort(key=lambda q: -q.priority)
    return queues


def sqs_event(messages: list[dict[str, Any]], queue: PolledQueue) -> dict[str, Any]:
    """The Lambda SQS event of received messages."""
    records = []
    for message in messages:
        attributes = message.get("Attributes", {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                    "SenderId": attributes.get("SenderId", ACCOUNT),
                    "ApproximateFirstReceiveTimestamp": attributes.get(
                        "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
                    ),
                },
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue.arn,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


class WorkerPool:
    """`slots` threads, each polling the queues in priority order whenever it is free."""

    def __init__(
        self, function: LocalFunction, queues: list[PolledQueue], sqs: Any, slots: int
    ) -> None:
        if slots < 1:
            raise ValueError("the worker pool needs at least one slot")
        self.function = function
        self.queues = queues
        self.sqs = sqs
        self.slots = slots
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"worker-{i + 1}", daemon=True)
            for i in range(slots)
        ]
        self._busy = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy

    def start(self) -> WorkerPool:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, grace_seconds: float = 5.0) -> int:
        """Stop polling; wait up to `grace_seconds` for running jobs; returns how many still run."""
        self._stop.set()
        # Running jobs see no time left and stop at their next check, as before a Lambda
        # timeout; their messages would be delivered again (the local queues end with us).
        self.function.expire_running()
        deadline = time.monotonic() + grace_seconds
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in self._threads)

    def _run(self) -> None:
        last_worked = -math.inf
        while not self._stop.is_set():
            try:
                worked = self.poll_once()
            except Exception:
                log.exception("worker slot failed to poll; retrying")
                worked = False
            now = time.monotonic()
            if worked:
                last_worked = now
            else:
                active = now - last_worked < ACTIVE_WINDOW_SECONDS
                self._stop.wait(ACTIVE_SLEEP_SECONDS if active else IDLE_SLEEP_SECONDS)

    def poll_once(self) -> bool:
        """Take messages from the highest non-empty queue and process them; False if none."""
        for queue in self.queues:
            if self._stop.is_set():
                return False
            received = self.sqs.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=min(10, queue.source.batch_size),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = received.get("Messages") or []
            if messages:
                self._process(queue, messages)
                return True
        return False

    def _process(self, queue: PolledQueue, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self._busy += 1
        started = time.perf_counter()
        failed: set[str] = set()
        try:
            result = self.function.invoke(sqs_event(messages, queue))
            if queue.source.report_batch_item_failures and isinstance(result, dict):
                failed = {
                    str(item.get("itemIdentifier"))
                    for item in result.get("batchItemFailures") or []
                }
        except Exception:
            log.exception(
                "worker function raised; the batch will be retried after the visibility timeout"
            )
            failed = {m["MessageId"] for m in messages}
        finally:
            with self._lock:
                self._busy -= 1
        done = [m for m in messages if m["MessageId"] not in failed]
        for message in done:
            self.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
        seconds = time.perf_counter() - started
        for message in messages:
            outcome = "failed, will be retried" if message["MessageId"] in failed else "handled"
            log.info(
                "worker: %s (priority %d) %s in %.1f s",
                _job_of(message),
                queue.priority,
                outcome,
                seconds,
            )


def _job_of(message: dict[str, Any]) -> str:
    try:
        return str(json.loads(message["Body"])["job_id"])
    except (ValueError, KeyError, TypeError):
        return f"message {message['MessageId']}"
