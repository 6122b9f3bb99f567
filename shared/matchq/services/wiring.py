"""Builds the services of this process from its settings, once."""

from __future__ import annotations

from functools import cache

from matchq.dal.jobs import JobRepository
from matchq.dal.queues import JobQueues
from matchq.dal.storage import Storage
from matchq.services.files import FileService
from matchq.services.jobs import JobService
from matchq.services.maintenance import Maintenance
from matchq.services.worker import JobRunner
from matchq.settings import get_settings


@cache
def job_service() -> JobService:
    settings = get_settings()
    return JobService(
        JobRepository(settings.table_name),
        JobQueues(settings.queue_urls),
        Storage(settings.bucket_name),
        settings,
    )


@cache
def file_service() -> FileService:
    settings = get_settings()
    return FileService(Storage(settings.bucket_name), settings)


def reset() -> None:
    """Forget built services (tests change the environment between cases)."""
    job_service.cache_clear()
    file_service.cache_clear()
    job_runner.cache_clear()
    maintenance.cache_clear()
    get_settings.cache_clear()


@cache
def job_runner() -> JobRunner:
    settings = get_settings()
    return JobRunner(
        JobRepository(settings.table_name),
        Storage(settings.bucket_name),
        settings,
        queues=JobQueues(settings.queue_urls),
    )


@cache
def maintenance() -> Maintenance:
    settings = get_settings()
    service = job_service()
    return Maintenance(service, service.repo, service.queues, settings)
