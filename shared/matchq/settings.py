"""Configuration read once from the environment (the template's `Globals` set it)."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, Field

PRIORITY_NAMES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}


class Settings(BaseModel):
    """Every knob of the service, parsed from `MATCHQ_*` variables."""

    table_name: str = "matchq-jobs"
    bucket_name: str = "matchq-data"
    queue_urls: dict[int, str] = Field(default_factory=dict)
    worker_concurrency: list[int] = Field(default_factory=lambda: [2, 3, 5, 10])
    total_workers_override: int | None = None
    retention_hours: int = 24
    max_upload_bytes: int = 100 * 1024 * 1024
    max_attempts: int = 3
    max_receive_count: int = 3
    heartbeat_timeout_seconds: int = 300
    heartbeat_interval_seconds: float = 2.0
    expected_job_seconds: int = 600
    pending_resend_seconds: int = 1800
    presign_expires_seconds: int = 900
    max_rows: int = 1_000_000
    result_ttl_days: int = 30
    jwt_secret: str | None = None
    jwt_secret_arn: str | None = None
    jwt_secret_parameter: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["HS256"])
    jwt_leeway_seconds: int = 30
    jwks_cooldown_seconds: float = 30.0

    @property
    def total_workers(self) -> int:
        """Configured worker capacity: `MATCHQ_WORKERS` locally, the sum of the queues' caps."""
        if self.total_workers_override is not None:
            return self.total_workers_override
        return sum(self.worker_concurrency)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)

        def opt(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        values: dict[str, object] = {}
        simple = {
            "table_name": "MATCHQ_TABLE_NAME",
            "bucket_name": "MATCHQ_BUCKET_NAME",
            "retention_hours": "MATCHQ_RETENTION_HOURS",
            "max_upload_bytes": "MATCHQ_MAX_UPLOAD_BYTES",
            "max_attempts": "MATCHQ_MAX_ATTEMPTS",
            "max_receive_count": "MATCHQ_MAX_RECEIVE_COUNT",
            "heartbeat_timeout_seconds": "MATCHQ_HEARTBEAT_TIMEOUT_SECONDS",
            "heartbeat_interval_seconds": "MATCHQ_HEARTBEAT_INTERVAL_SECONDS",
            "expected_job_seconds": "MATCHQ_EXPECTED_JOB_SECONDS",
            "pending_resend_seconds": "MATCHQ_PENDING_RESEND_SECONDS",
            "presign_expires_seconds": "MATCHQ_PRESIGN_EXPIRES_SECONDS",
            "max_rows": "MATCHQ_MAX_ROWS",
            "total_workers_override": "MATCHQ_WORKERS",
            "jwt_secret": "MATCHQ_JWT_SECRET",
            "jwt_secret_arn": "MATCHQ_JWT_SECRET_ARN",
            "jwt_secret_parameter": "MATCHQ_JWT_SECRET_PARAMETER",
            "jwks_url": "MATCHQ_JWKS_URL",
            "jwt_issuer": "MATCHQ_JWT_ISSUER",
            "jwt_audience": "MATCHQ_JWT_AUDIENCE",
        }
        for field, var in simple.items():
            value = opt(var)
            if value is not None:
                values[field] = value
        queues = {}
        for priority, name in PRIORITY_NAMES.items():
            url = opt(f"MATCHQ_QUEUE_URL_{name.upper()}")
            if url:
                queues[priority] = url
        values["queue_urls"] = queues
        if concurrency := opt("MATCHQ_WORKER_CONCURRENCY"):
            values["worker_concurrency"] = [int(x) for x in concurrency.split(",") if x.strip()]
        if algorithms := opt("MATCHQ_JWT_ALGORITHMS"):
            values["jwt_algorithms"] = [a.strip() for a in algorithms.split(",") if a.strip()]
        return cls.model_validate(values)


@cache
def get_settings() -> Settings:
    """The process-wide settings (tests call `get_settings.cache_clear()` after changing env)."""
    return Settings.from_env()
