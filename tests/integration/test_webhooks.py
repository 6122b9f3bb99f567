"""Webhooks end to end on moto: registration, signed deliveries of state changes, retries,
the dead-letter path, duplicates, deletion, other users, and SSRF at delivery."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from matchq.models import JobStatus
from tests.support import AwsStack, FakeContext, api_event, call, load_function, submit

ALL_EVENTS = ["running", "completed", "failed", "cancelled"]


# --- a receiver ------------------------------------------------------------------------------


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers from a script."""

    server: ThreadingHTTPServer
    requests: list[tuple[dict[str, str], str]] = field(default_factory=list)
    # Each entry: an HTTP status, or ("sleep", seconds), or ("redirect", url); then 200.
    script: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            me = holder["r"]
            step = me.script.pop(0) if me.script else 200
            if isinstance(step, tuple) and step[0] == "sleep":
                time.sleep(step[1])
                step = 200
            headers = {k.lower(): v for k, v in self.headers.items()}
            me.requests.append(({**headers, "x-test-path": self.path}, body))
            if isinstance(step, tuple) and step[0] == "redirect":
                self.send_response(302)
                self.send_header("Location", step[1])
            else:
                self.send_response(int(step))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["r"]
    server.shutdown()
    server.server_close()


# --- the stack's webhook functions on moto ---------------------------------------------------


@dataclass
class Hooks:
    aws: AwsStack
    notifications: str
    deliveries: str
    dead_letters: str

    def sqs(self) -> Any:
        return self.aws.session.client("sqs")

    def drain(self, queue_url: str, folder: str) -> int:
        """Feed what is visible on `queue_url` to functions/<folder> as Lambda would (failed
        records stay on the queue); the number of records handled."""
        handled = 0
        while True:
            received = self.sqs().receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
            )
            messages = received.get("Messages") or []
            if not messages:
                return handled
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {
                        "ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"],
                        "SentTimestamp": m["Attributes"]["SentTimestamp"],
                        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                        "ApproximateFirstReceiveTimestamp": m["Attributes"].get(
                            "ApproximateFirstReceiveTimestamp", m["Attributes"]["SentTimestamp"]
                        ),
                    },
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
            result = load_function(folder).lambda_handler({"Records": records}, FakeContext())
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            for m in messages:
                if m["MessageId"] not in failed:
                    self.sqs().delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            handled += len(messages)

    def pump(self) -> None:
        """Notifications to deliveries to receivers, until both queues show nothing."""
        while self.drain(self.notifications, "notifier") + self.drain(
            self.deliveries, "webhook_delivery"
        ):
            pass

    def count(self, queue_url: str) -> int:
        attributes = self.sqs().get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def hooks(aws: AwsStack, monkeypatch: pytest.MonkeyPatch) -> Hooks:
    from matchq.services import wiring
    from matchq_local.template import load_stack, queue_url

    stack = load_stack("https://sqs.us-east-1.amazonaws.com")
    for name in ("NotifierFunction", "WebhookDeliveryFunction"):
        for key, value in stack.functions[name].environment.items():
            if key.startswith("MATCHQ_") and key not in aws.env:
                monkeypatch.setenv(key, value)
    monkeypatch.setenv("MATCHQ_WEBHOOKS_ALLOW_LOOPBACK", "1")
    # No DNS here: every name is a public address, localhost is loopback.
    monkeypatch.setattr(
        "matchq.netguard.system_resolver",
        lambda host, port: ["127.0.0.1"] if host == "localhost" else ["93.184.215.14"],
    )
    # every retry at once (the schedule's length, hence the attempts, stays the template's)
    monkeypatch.setenv("MATCHQ_WEBHOOK_RETRY_SECONDS", ",".join(["0"] * 8))
    wiring.reset()
    endpoint = "https://sqs.us-east-1.amazonaws.com"
    return Hooks(
        aws,
        notifications=queue_url("NotificationsQueue", endpoint),
        deliveries=queue_url("DeliveriesQueue", endpoint),
        dead_letters=queue_url("DeliveriesDeadLetterQueue", endpoint),
    )


def register(url: str, user: str = "alice", events: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["events"] = events
    status, answer, _ = call("create_webhook", api_event("create_webhook", user=user, body=body))
    assert status == 201, answer
    return dict(answer)


def delete_event(webhook_id: str, user: str = "alice") -> dict[str, Any]:
    event = api_event("delete_webhook", user=user)
    event["pathParameters"] = {"webhook_id": webhook_id}
    event["path"] = f"/api/v1/webhooks/{webhook_id}"
    return event


def run_job(aws: AwsStack, monkeypatch: pytest.MonkeyPatch, user: str = "alice") -> str:
    """Submit a job and run it with the fake engine through the worker function."""
    from tests.integration.test_worker import sqs_event
    from tests.support import fake_engine

    monkeypatch.setattr("matchq.services.worker.default_engine", lambda: fake_engine)
    job_id = submit(aws, user)
    result = load_function("worker").lambda_handler(sqs_event(aws), FakeContext())
    assert result == {"batchItemFailures": []}
    return job_id


def verified(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    wh = Webhook(secret)
    return [wh.verify(body, headers) for headers, body in receiver.requests]


# --- the API ---------------------------------------------------------------------------------


def test_register_list_delete_and_the_secret_is_shown_once(hooks: Hooks) -> None:
    created = register("https://example.com/hook")
    assert created["webhook_id"].startswith("wh_")
    assert created["events"] == ALL_EVENTS
    assert created["secret"].startswith("whsec_")
    status, listed, _ = call("list_webhooks", api_event("list_webhooks"))
    assert status == 200
    assert listed["webhooks"] == [{**created, "secret": None}]
    # another user sees none of them and cannot delete them
    assert call("list_webhooks", api_event("list_webhooks", user="bob"))[1] == {"webhooks": []}
    status, body, _ = call("delete_webhook", delete_event(created["webhook_id"], "bob"))
    assert status == 403, body
    unknown = "wh_00000000-0000-4000-8000-000000000000"
    assert call("delete_webhook", delete_event(unknown, "bob"))[0] == 404
    assert call("delete_webhook", delete_event("job_x", "bob"))[0] == 404
    event = delete_event(created["webhook_id"])
    status, body, _ = call("delete_webhook", event)
    assert (status, body["success"], body["webhook_id"]) == (200, True, created["webhook_id"])
    assert call("delete_webhook", event)[0] == 404
    assert call("list_webhooks", api_event("list_webhooks"))[1] == {"webhooks": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://example.com/", "events": ["running", "exploded"]}, "events[1]"),
        ({"url": "https://example.com/", "events": []}, "events"),
        ({"url": "https://example.com/" + "a" * 2048}, "url"),
        ({"url": "https://example.com/", "secret": "mine"}, "secret"),
        ({}, "url"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(
    hooks: Hooks, body: dict[str, Any], field: str
) -> None:
    status, answer, _ = call("create_webhook", api_event("create_webhook", body=body))
    assert status == 400, answer
    assert answer["details"].startswith(field), answer


def test_at_most_ten_webhooks_per_user(hooks: Hooks) -> None:
    for i in range(10):
        register(f"https://example.com/{i}")
    status, answer, _ = call(
        "create_webhook", api_event("create_webhook", body={"url": "https://example.com/x"})
    )
    assert status == 400 and answer["details"].startswith("webhooks: at most 10"), answer
    register("https://example.com/bob", user="bob")  # the limit is per user


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::1]/",
        "https://0x7f.1/",
        "https://2130706433/",
        "http://example.com/hook",
        "http://127.0.0.1:8080/hook",  # loopback is for the local stack only
        "https://user:pass@example.com/",
        "https://rebind.example/",  # resolves to 127.0.0.1 (below)
    ],
)
def test_ssrf_attempts_are_refused_at_registration(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    from matchq.services import wiring

    monkeypatch.setenv("MATCHQ_WEBHOOKS_ALLOW_LOOPBACK", "0")  # as in the cloud
    monkeypatch.setattr("matchq.netguard.system_resolver", lambda host, port: ["127.0.0.1"])
    wiring.reset()
    status, answer, _ = call("create_webhook", api_event("create_webhook", body={"url": url}))
    assert status == 400, answer
    assert answer["details"].startswith("url:"), answer


# --- deliveries ------------------------------------------------------------------------------


def test_a_jobs_state_changes_are_delivered_signed(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = register(receiver.url)
    job_id = run_job(hooks.aws, monkeypatch)
    hooks.pump()
    assert receiver.events() == ["job.running", "job.completed"]
    payloads = verified(receiver, hook["secret"])  # raises unless signed with the secret
    assert [p["data"]["status"] for p in payloads] == ["running", "completed"]
    _, current, _ = call("get_job", api_event("get_job", job_id=job_id))
    assert payloads[1]["data"] == current
    ids = [headers["webhook-id"] for headers, _ in receiver.requests]
    assert len(set(ids)) == 2 and all(i.startswith("msg_") for i in ids)
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 44).verify(receiver.requests[0][1], receiver.requests[0][0])


def test_only_the_subscribed_events_of_the_owners_jobs_are_delivered(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(receiver.url, events=["completed"])
    register(receiver.url + "?bob", user="bob")
    run_job(hooks.aws, monkeypatch)
    job_id = submit(hooks.aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    hooks.pump()
    assert receiver.events() == ["job.completed"]
    assert all("bob" not in headers.get("host", "") for headers, _ in receiver.requests)


def test_a_cancellation_is_delivered(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(receiver.url)
    job_id = submit(hooks.aws)
    assert call("cancel_job", api_event("cancel_job", job_id=job_id))[0] == 200
    hooks.pump()
    assert receiver.events() == ["job.cancelled"]
    assert json.loads(receiver.requests[0][1])["data"]["status"] == JobStatus.CANCELLED.value


def test_a_failing_receiver_is_retried_with_the_same_webhook_id(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = register(receiver.url, events=["cancelled"])
    receiver.script = [500, 503]
    job_id = submit(hooks.aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    hooks.pump()
    assert receiver.events() == ["job.cancelled"] * 3
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == 1
    verified(receiver, hook["secret"])
    assert hooks.count(hooks.deliveries) == 0


def test_a_receiver_that_times_out_is_retried(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matchq.services import wiring

    monkeypatch.setenv("MATCHQ_WEBHOOK_TIMEOUT_SECONDS", "0.3")
    wiring.reset()
    register(receiver.url, events=["cancelled"])
    receiver.script = [("sleep", 1.0)]
    job_id = submit(hooks.aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    hooks.pump()  # the first attempt times out, the second (at once, here) is answered
    assert hooks.count(hooks.deliveries) == 0
    time.sleep(1.0)  # the first request's handler is still asleep
    assert len(receiver.requests) == 2
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == 1


def test_the_retry_schedule_sets_the_visibility_of_the_next_attempt(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matchq.services import wiring

    monkeypatch.delenv("MATCHQ_WEBHOOK_RETRY_SECONDS")
    wiring.reset()
    assert wiring.deliverer().settings.webhook_retry_seconds == [
        5, 30, 120, 300, 600, 1200, 1800, 3600
    ]  # fmt: skip
    assert sum(wiring.deliverer().settings.webhook_retry_seconds) >= 3600
    register(receiver.url, events=["cancelled"])
    receiver.script = [500]
    job_id = submit(hooks.aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    hooks.pump()
    assert len(receiver.requests) == 1  # the second attempt waits 5 s
    assert hooks.count(hooks.deliveries) == 1


def test_after_the_last_attempt_the_delivery_is_dead_lettered(
    hooks: Hooks, receiver: Receiver
) -> None:
    register(receiver.url, events=["cancelled"])
    receiver.script = [500] * 20
    job_id = submit(hooks.aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    hooks.pump()
    assert len(receiver.requests) == 9  # the deliveries queue's maxReceiveCount
    assert hooks.count(hooks.deliveries) == 0
    assert hooks.count(hooks.dead_letters) == 1
    # once the receiver is fixed, a redrive from the dead-letter queue delivers
    receiver.script = []
    sqs = hooks.sqs()
    (dead,) = sqs.receive_message(QueueUrl=hooks.dead_letters)["Messages"]
    sqs.send_message(QueueUrl=hooks.deliveries, MessageBody=dead["Body"])
    sqs.delete_message(QueueUrl=hooks.dead_letters, ReceiptHandle=dead["ReceiptHandle"])
    hooks.pump()
    assert len(receiver.requests) == 10
    assert len({headers["webhook-id"] for headers, _ in receiver.requests}) == 1


def test_duplicate_notifications_of_one_change_deliver_once(
    hooks: Hooks, receiver: Receiver
) -> None:
    register(receiver.url)
    job_id = submit(hooks.aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    sqs = hooks.sqs()
    (message,) = sqs.receive_message(QueueUrl=hooks.notifications)["Messages"]
    sqs.change_message_visibility(
        QueueUrl=hooks.notifications, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    sqs.send_message(QueueUrl=hooks.notifications, MessageBody=message["Body"])  # a duplicate
    hooks.drain(hooks.notifications, "notifier")
    # and a duplicate of the delivery message itself
    (delivery,) = sqs.receive_message(QueueUrl=hooks.deliveries)["Messages"]
    sqs.change_message_visibility(
        QueueUrl=hooks.deliveries, ReceiptHandle=delivery["ReceiptHandle"], VisibilityTimeout=0
    )
    sqs.send_message(QueueUrl=hooks.deliveries, MessageBody=delivery["Body"])
    hooks.pump()
    assert receiver.events() == ["job.cancelled"]
    assert hooks.count(hooks.deliveries) == 0


def test_a_deleted_webhook_gets_nothing_more(hooks: Hooks, receiver: Receiver) -> None:
    hook = register(receiver.url)
    job_id = submit(hooks.aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    hooks.drain(hooks.notifications, "notifier")  # the delivery is queued ...
    # ... when the webhook goes
    assert call("delete_webhook", delete_event(hook["webhook_id"]))[0] == 200
    hooks.pump()
    assert receiver.requests == []
    assert hooks.count(hooks.deliveries) == 0


def test_a_name_that_resolves_to_loopback_at_delivery_is_refused(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matchq.services import wiring

    monkeypatch.setenv("MATCHQ_WEBHOOKS_ALLOW_LOOPBACK", "0")
    port = receiver.server.server_address[1]
    answers = {"now": ["93.184.215.14"]}
    monkeypatch.setattr("matchq.netguard.system_resolver", lambda host, p: answers["now"])
    wiring.reset()
    register(f"https://rebind.example:{port}/hook", events=["cancelled"])
    answers["now"] = ["127.0.0.1"]  # DNS rebinding after registration
    job_id = submit(hooks.aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    hooks.pump()
    assert receiver.requests == []  # every attempt refused before connecting
    assert hooks.count(hooks.dead_letters) == 1


def test_redirects_are_not_followed(hooks: Hooks, receiver: Receiver) -> None:
    register(receiver.url, events=["cancelled"])
    receiver.script = [("redirect", receiver.url + "?redirected")]
    job_id = submit(hooks.aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    hooks.pump()
    # the 302 was a failed attempt, not followed; the retry went to the webhook's URL again
    assert [headers["x-test-path"] for headers, _ in receiver.requests] == ["/hook", "/hook"]


def test_state_changes_go_to_eventbridge(hooks: Hooks) -> None:
    events = hooks.aws.session.client("events")
    sqs = hooks.sqs()
    target = sqs.create_queue(QueueName="eventbridge-target")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=target, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="matchq-jobs",
        EventPattern=json.dumps({"source": ["matchq"], "detail-type": ["Match Job State Change"]}),
    )
    events.put_targets(Rule="matchq-jobs", Targets=[{"Id": "q", "Arn": arn}])
    job_id = submit(hooks.aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    hooks.pump()
    (message,) = sqs.receive_message(QueueUrl=target)["Messages"]
    event = json.loads(message["Body"])
    assert event["source"] == "matchq" and event["detail"]["id"] == job_id
    assert event["detail"]["status"] == "cancelled"
