"""Builds the services of this process from its settings, once.

Each builder imports its services (and with them boto3) on first use: an API function
loads neither the worker's modules nor boto3 at import, which keeps its cold start short.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from matchq.settings import (
    ApiSettings,
    api_settings,
    forget_settings,
    maintenance_settings,
    webhook_settings,
    worker_settings,
)

if TYPE_CHECKING:
    from matchq.dal.jobs import JobRepository
    from matchq.services.files import FileService
    from matchq.services.jobs import JobService
    from matchq.services.maintenance import Maintenance
    from matchq.services.webhooks import Deliverer, Notifier, WebhookService
    from matchq.services.worker import JobRunner
    from matchq.settings import _ServiceSettings


def _repository(settings: _ServiceSettings) -> JobRepository:
    """The jobs table; every status change it writes is queued for notification."""
    from matchq.dal.events import JobEvents
    from matchq.dal.jobs import JobRepository

    url = settings.notifications_queue_url
    return JobRepository(settings.table_name, events=JobEvents(url) if url else None)


def _job_service(settings: ApiSettings) -> JobService:
    from matchq.dal.queues import JobQueues
    from matchq.dal.storage import Storage
    from matchq.services.jobs import JobService

    return JobService(
        _repository(settings),
        JobQueues(settings.queue_urls),
        Storage(settings.bucket_name),
        settings,
    )


@cache
def job_service() -> JobService:
    return _job_service(api_settings())


@cache
def file_service() -> FileService:
    from matchq.dal.files import FileRecords
    from matchq.dal.storage import Storage
    from matchq.services.files import FileService

    settings = api_settings()
    return FileService(Storage(settings.bucket_name), settings, FileRecords(settings.table_name))


@cache
def job_runner() -> JobRunner:
    from matchq.dal.queues import JobQueues
    from matchq.dal.storage import Storage
    from matchq.services.worker import JobRunner

    settings = worker_settings()
    return JobRunner(
        _repository(settings),
        Storage(settings.bucket_name),
        settings,
        queues=JobQueues(settings.queue_urls),
    )


@cache
def maintenance() -> Maintenance:
    from matchq.services.maintenance import Maintenance

    settings = maintenance_settings()
    service = _job_service(settings)
    return Maintenance(service, service.repo, service.queues, settings)


@cache
def browser_origins() -> tuple[str, ...]:
    """Where a browser sends uploads and fetches results: the data bucket's origins."""
    from matchq.dal.storage import Storage

    return tuple(Storage(api_settings().bucket_name).browser_origins())


@cache
def webhook_service() -> WebhookService:
    from matchq.dal.webhooks import WebhookStore
    from matchq.services.webhooks import WebhookService

    settings = webhook_settings()
    return WebhookService(WebhookStore(settings.table_name), settings)


@cache
def notifier() -> Notifier:
    from matchq.dal.events import DeliveryQueue, EventBus
    from matchq.dal.webhooks import Ledger, WebhookStore
    from matchq.services.webhooks import Notifier

    settings = webhook_settings()
    url = settings.deliveries_queue_url
    return Notifier(
        WebhookStore(settings.table_name),
        Ledger(settings.table_name),
        DeliveryQueue(url) if url else None,
        EventBus(settings.event_bus_name) if settings.event_bus_name else None,
    )


@cache
def deliverer() -> Deliverer:
    from matchq.dal.events import DeliveryQueue
    from matchq.dal.webhooks import Ledger, WebhookStore
    from matchq.services.webhooks import Deliverer

    settings = webhook_settings()
    url = settings.deliveries_queue_url
    return Deliverer(
        WebhookStore(settings.table_name),
        Ledger(settings.table_name),
        DeliveryQueue(url) if url else None,
        settings,
    )


def reset() -> None:
    """Forget built services and settings (tests change the environment between cases)."""
    for built in (job_service, file_service, job_runner, maintenance, browser_origins):
        built.cache_clear()
    for webhooks in (webhook_service, notifier, deliverer):
        webhooks.cache_clear()
    forget_settings()
