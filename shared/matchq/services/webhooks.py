"""Webhooks: registration (API), fan-out of state changes (notifier), signed delivery with
retries (delivery function). docs/api.md, "Webhooks and events", is the contract.

The job side only sends one state-change message per change (matchq.dal.events). The
notifier claims the change in the ledger (a duplicate notification of the same change
stops there), puts it on EventBridge and queues one delivery per matching webhook, each
with its stable `webhook-id` (`delivery_id`). The delivery function claims that id too,
reads the webhook (a deleted one gets nothing), checks its URL after DNS, signs the body
as Standard Webhooks says and POSTs it to the checked address; a failed attempt is tried
again after `webhook_retry_seconds[attempt - 1]` (the message's visibility timeout), and
after the last one the queue moves the message to its dead-letter queue.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from standardwebhooks.webhooks import Webhook

from matchq import netguard
from matchq.api.schemas import WebhookView
from matchq.auth import Principal
from matchq.dal.events import DeliveryQueue, EventBus
from matchq.dal.webhooks import Ledger, TooManyWebhooks, WebhookRecord, WebhookStore
from matchq.errors import AccessDenied, NotFound, ValidationFailed
from matchq.messages import Attempt, DeliveryMessage, StateChange, delivery_id
from matchq.models import WebhookRequest, iso, utcnow
from matchq.observability import logger, metrics, tag
from matchq.settings import WebhookSettings

WEBHOOK_ID_PREFIX = "wh_"
SECRET_BYTES = 32
USER_AGENT = "matchq-webhooks/1"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _view(record: WebhookRecord, secret: str | None = None) -> WebhookView:
    return WebhookView.model_validate(
        {
            "webhook_id": record.webhook_id,
            "url": record.url,
            "events": list(record.events),
            "created_at": iso(record.created_at) or "",
            "secret": secret,
        }
    )


class WebhookService:
    """`POST`, `GET` and `DELETE /webhooks` on behalf of one caller."""

    def __init__(
        self,
        store: WebhookStore,
        settings: WebhookSettings,
        *,
        resolver: netguard.Resolver | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.settings = settings
        self.resolver = resolver
        self.clock = clock

    def create(self, principal: Principal, request: WebhookRequest) -> WebhookView:
        try:
            netguard.check_url(
                request.url,
                allow_loopback=self.settings.webhooks_allow_loopback,
                resolver=self.resolver or netguard.system_resolver,
            )
        except netguard.UnsafeUrl as exc:
            raise ValidationFailed(str(exc)) from None
        secret = new_secret()
        record = WebhookRecord(
            webhook_id=f"{WEBHOOK_ID_PREFIX}{uuid.uuid4()}",
            user_id=principal.user_id,
            url=request.url,
            events=tuple(request.events),
            created_at=self.clock(),
            secret=secret,
        )
        try:
            self.store.create(record, limit=self.settings.max_webhooks)
        except TooManyWebhooks:
            raise ValidationFailed(
                f"webhooks: at most {self.settings.max_webhooks} per user; delete one first"
            ) from None
        tag(webhook_id=record.webhook_id)
        logger.info("webhook created", extra={"webhook_id": record.webhook_id})
        return _view(record, secret)

    def list(self, principal: Principal) -> list[WebhookView]:
        return [_view(record) for record in self.store.list(principal.user_id)]

    def delete(self, principal: Principal, webhook_id: str) -> None:
        tag(webhook_id=webhook_id)
        record = self.store.get(webhook_id) if webhook_id.startswith(WEBHOOK_ID_PREFIX) else None
        if record is None:
            raise NotFound(f"Webhook not found: {webhook_id}")
        if not principal.may_access(record.user_id):
            raise AccessDenied("Access denied to this webhook")
        if not self.store.delete(record):
            raise NotFound(f"Webhook not found: {webhook_id}")
        logger.info("webhook deleted", extra={"webhook_id": webhook_id})


class Notifier:
    """One state change: EventBridge, and one delivery per matching webhook."""

    def __init__(
        self,
        store: WebhookStore,
        ledger: Ledger,
        deliveries: DeliveryQueue | None,
        bus: EventBus | None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.deliveries = deliveries
        self.bus = bus
        self.clock = clock

    def handle(self, change: StateChange, message_id: str) -> int:
        """Fan `change` out; the number of deliveries queued (0 for a duplicate)."""
        tag(job_id=str(change.job.get("id")), event_id=change.event_id)
        if not self.ledger.claim(change.event_id, message_id, self.clock()):
            logger.info("duplicate state change ignored", extra={"event_id": change.event_id})
            return 0
        if self.bus is not None:
            self.bus.put(change)
        hooks = [h for h in self.store.list(change.user_id) if change.status in h.events]
        if hooks and self.deliveries is not None:
            payload = change.payload()
            self.deliveries.send_all(
                [
                    DeliveryMessage(
                        delivery_id=delivery_id(change.event_id, hook.webhook_id),
                        webhook_id=hook.webhook_id,
                        user_id=change.user_id,
                        event_type=change.type,
                        payload=payload,
                    )
                    for hook in hooks
                ]
            )
        self.ledger.done(change.event_id, f"{len(hooks)} deliveries")
        return len(hooks)


class Delivered(StrEnum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"  # another message has (or had) this delivery
    WEBHOOK_GONE = "webhook deleted"
    NOT_SUBSCRIBED = "event no longer subscribed"


class DeliveryFailed(Exception):
    """This attempt failed; the message is tried again later (or dead-lettered)."""


class Deliverer:
    """Signs and POSTs one delivery; schedules the next attempt when it fails."""

    def __init__(
        self,
        store: WebhookStore,
        ledger: Ledger,
        queue: DeliveryQueue | None,
        settings: WebhookSettings,
        *,
        resolver: netguard.Resolver | None = None,
        clock: Callable[[], datetime] = utcnow,
        send: Callable[..., netguard.Answer] = netguard.post,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.queue = queue
        self.settings = settings
        self.resolver = resolver
        self.clock = clock
        self.send = send

    def headers(self, secret: str, message: DeliveryMessage, now: datetime) -> dict[str, str]:
        """The Standard Webhooks headers (signed now: receivers refuse old timestamps)."""
        signature = Webhook(secret).sign(message.delivery_id, now, message.payload)
        return {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message.delivery_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }

    def handle(self, attempt: Attempt) -> Delivered:
        message = attempt.message
        tag(webhook_id=message.webhook_id, delivery_id=message.delivery_id)
        now = self.clock()
        if not self.ledger.claim(message.delivery_id, attempt.message_id, now):
            return Delivered.DUPLICATE
        hook = self.store.get(message.webhook_id)
        if hook is None or hook.user_id != message.user_id or hook.secret is None:
            self.ledger.done(message.delivery_id, Delivered.WEBHOOK_GONE.value)
            return Delivered.WEBHOOK_GONE
        if message.event_type.removeprefix("job.") not in hook.events:
            self.ledger.done(message.delivery_id, Delivered.NOT_SUBSCRIBED.value)
            return Delivered.NOT_SUBSCRIBED
        try:
            target = netguard.check_url(
                hook.url,
                allow_loopback=self.settings.webhooks_allow_loopback,
                resolver=self.resolver or netguard.system_resolver,
            )
            answer = self.send(
                target,
                message.payload.encode("utf-8"),
                self.headers(hook.secret, message, now),
                timeout=self.settings.webhook_timeout_seconds,
            )
            problem = None if answer.ok else f"answered {answer.status}"
        except netguard.UnsafeUrl as exc:
            problem = f"refused: {exc}"
        except OSError as exc:  # connection refused, timeouts, TLS errors
            problem = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # http.client's protocol errors and anything unexpected
            problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            self.ledger.done(message.delivery_id, Delivered.DELIVERED.value)
            metrics.add_metric(name="WebhookDelivered", unit="Count", value=1)
            return Delivered.DELIVERED
        self._retry_later(attempt, problem)
        raise DeliveryFailed(problem)

    def delay_after(self, receive_count: int) -> int:
        """Seconds before the next attempt after attempt `receive_count` failed (0 after the
        last: the queue moves the message to its dead-letter queue on its next receive)."""
        delays = self.settings.webhook_retry_seconds
        return delays[receive_count - 1] if receive_count <= len(delays) else 0

    def _retry_later(self, attempt: Attempt, problem: str) -> None:
        last = attempt.receive_count >= self.settings.max_attempts
        delay = self.delay_after(attempt.receive_count)
        logger.warning(
            "webhook delivery failed",
            extra={
                "webhook_id": attempt.message.webhook_id,
                "delivery_id": attempt.message.delivery_id,
                "attempt": attempt.receive_count,
                "problem": problem,
                "next_attempt_seconds": None if last else delay,
            },
        )
        metrics.add_metric(name="WebhookAttemptFailed", unit="Count", value=1)
        if last:
            self.ledger.release(attempt.message.delivery_id)
        if self.queue is not None:
            try:
                self.queue.retry_in(attempt.receipt_handle, delay)
            except Exception:
                logger.exception("could not schedule the next attempt")
