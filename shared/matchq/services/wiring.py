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
    worker_settings,
)

if TYPE_CHECKING:
    from matchq.services.files import FileService
    from matchq.services.jobs import JobService
    from matchq.services.maintenance import Maintenance
    from matchq.services.worker import JobRunner


def _job_service(settings: ApiSettings) -> JobService:
    from matchq.dal.jobs import JobRepository
    from matchq.dal.queues import JobQueues
    from matchq.dal.storage import Storage
    from matchq.services.jobs import JobService

    return JobService(
        JobRepository(settings.table_name),
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
    from matchq.dal.jobs import JobRepository
    from matchq.dal.queues import JobQueues
    from matchq.dal.storage import Storage
    from matchq.services.worker import JobRunner

    settings = worker_settings()
    return JobRunner(
        JobRepository(settings.table_name),
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


def reset() -> None:
    """Forget built services and settings (tests change the environment between cases)."""
    for built in (job_service, file_service, job_runner, maintenance):
        built.cache_clear()
    forget_settings()
