"""Settings of each kind of process, read once from the `MATCHQ_*` variables the template sets.

One model per process kind: the authorizer, the API functions, the worker and the
maintenance function each read only what they use. What the template always sets (resource
names, queue URLs, the limits behind its parameters) is required: a function started
without it fails at import, with a `ConfigurationError` naming the variable, instead of
running against a made-up default. docs/operations.md lists the parameters behind them.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PRIORITY_NAMES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
ENV_PREFIX = "MATCHQ_"


class ConfigurationError(RuntimeError):
    """A required setting is missing or invalid; the message names the variable."""


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True
    )


class AuthorizerSettings(_Settings):
    """The JWT authorizer: where the key comes from and which tokens are accepted."""

    jwt_secret: str | None = None  # an HS256 secret given directly (the local stack, tests)
    jwt_secret_arn: str | None = None
    jwt_secret_parameter: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["HS256"])
    jwt_leeway_seconds: int = 30
    jwks_cooldown_seconds: float = 30.0

    _split_algorithms = field_validator("jwt_algorithms", mode="before")(_comma_list)


class _ServiceSettings(_Settings):
    """What every function that touches jobs needs: the table, the bucket, the queues."""

    table_name: str
    bucket_name: str
    queue_url_low: str
    queue_url_normal: str
    queue_url_high: str
    queue_url_urgent: str
    # Where job state changes go for webhooks and EventBridge (matchq.dal.events); unset:
    # nobody is told (a process outside the template).
    notifications_queue_url: str | None = None

    @property
    def queue_urls(self) -> dict[int, str]:
        """Queue URL by priority, 1 (low) to 4 (urgent)."""
        return {p: getattr(self, f"queue_url_{name}") for p, name in PRIORITY_NAMES.items()}


class _CapacitySettings(_ServiceSettings):
    """How many worker invocations may run: per queue in the cloud, slots locally."""

    # Per-queue worker capacity, low..urgent (the template's WorkerConcurrency* parameters).
    worker_concurrency: Annotated[list[int], NoDecode]
    # The local stack's slot count, which replaces the queues' caps.
    workers: int | None = Field(default=None, ge=1)

    _split_concurrency = field_validator("worker_concurrency", mode="before")(_comma_list)

    @field_validator("worker_concurrency")
    @classmethod
    def _four(cls, value: list[int]) -> list[int]:
        if len(value) != len(PRIORITY_NAMES) or min(value) < 1:
            raise ValueError("needs four positive numbers, low,normal,high,urgent")
        return value

    @property
    def total_workers(self) -> int:
        """Configured worker capacity: the local slot count, else the sum of the queues' caps."""
        return self.workers if self.workers is not None else sum(self.worker_concurrency)

    def concurrency(self, priority: int) -> int:
        """Invocations that may run at once from the queue of `priority` (1..4): its cap in
        the cloud; locally every slot takes every queue."""
        if self.workers is not None:
            return self.workers
        return self.worker_concurrency[priority - 1]


class ApiSettings(_CapacitySettings):
    """The API functions."""

    max_upload_bytes: int = Field(ge=1)
    presign_expires_seconds: int = Field(default=900, ge=1, le=604800)
    idempotency_table_name: str | None = None  # Idempotency-Key records of submits


class WorkerSettings(_CapacitySettings):
    """The worker: retries, heartbeats, limits."""

    max_attempts: int = Field(ge=1)
    # The last delivery only fails the job (earlier ones died), so one delivery would run none.
    max_receive_count: int = Field(ge=2)
    heartbeat_interval_seconds: float = Field(default=2.0, ge=0)
    max_rows: int = Field(default=1_000_000, ge=1)
    # The per-job memory guard (matchq.services.memory); unset: 90 % of the function's
    # memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), or none where that is unknown.
    max_job_memory_mb: int | None = Field(default=None, ge=64)
    aws_lambda_function_memory_size: int | None = Field(
        default=None, validation_alias="AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
    )
    result_ttl_days: int = Field(default=30, ge=1)
    # Shards (docs/operations.md): file1 rows per shard, 0 or unset for the planner's own
    # estimate; never more than max_shards shards per job.
    shard_rows: int | None = Field(default=None, ge=0)
    max_shards: int = Field(default=1000, ge=1, le=10_000)

    def memory_limit_mb(self) -> int | None:
        """The memory guard's limit in MB, or None for no guard."""
        if self.max_job_memory_mb is not None:
            return self.max_job_memory_mb
        if self.aws_lambda_function_memory_size:
            return int(self.aws_lambda_function_memory_size * 0.9)
        return None

    @field_validator("shard_rows")
    @classmethod
    def _auto_when_zero(cls, value: int | None) -> int | None:
        return value or None


class MaintenanceSettings(ApiSettings):
    """The scheduled maintenance function (it cleans up through the API's job service)."""

    retention_hours: int = Field(ge=1)
    max_attempts: int = Field(ge=1)
    heartbeat_timeout_seconds: int = Field(ge=1)
    expected_job_seconds: int = Field(default=600, ge=1)
    pending_resend_seconds: int = Field(default=1800, ge=1)


DEFAULT_RETRY_SECONDS = (5, 30, 120, 300, 600, 1200, 1800, 3600)


class WebhookSettings(_Settings):
    """The webhook routes, the notifier and the delivery function (docs/api.md, "Webhooks")."""

    table_name: str
    deliveries_queue_url: str | None = None  # the notifier sends, the delivery function retries
    event_bus_name: str | None = None  # the notifier puts every change here; unset: no put
    # Also http://127.0.0.1:PORT and http://localhost:PORT (the local stack sets it; never
    # the template).
    webhooks_allow_loopback: bool = False
    max_webhooks: int = Field(default=10, ge=1, le=100)
    # Seconds before attempt 2, 3, ...; attempts = len + 1, which must equal the deliveries
    # queue's maxReceiveCount (the template sets both; tests/unit/test_template.py checks).
    webhook_retry_seconds: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SECONDS)
    )
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)

    _split_retries = field_validator("webhook_retry_seconds", mode="before")(_comma_list)

    @field_validator("webhook_retry_seconds")
    @classmethod
    def _within_sqs(cls, value: list[int]) -> list[int]:
        if not value or min(value) < 0 or max(value) > 43200:
            raise ValueError("needs one or more delays of 0 to 43200 seconds")
        return value

    @property
    def max_attempts(self) -> int:
        return len(self.webhook_retry_seconds) + 1


def load_settings[S: _Settings](kind: type[S], **values: Any) -> S:
    """`kind` from the environment (and `values`), or a ConfigurationError naming the variable."""
    try:
        return kind(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            field = str(error["loc"][0]) if error["loc"] else "?"
            variable = ENV_PREFIX + field.upper()
            if error["type"] == "missing":
                problems.append(f"{variable} is required")
            else:
                problems.append(f"{variable}: {error['msg']}")
        raise ConfigurationError(
            f"{kind.__name__}: {'; '.join(problems)} (template.yaml sets these in the cloud)"
        ) from None


@cache
def authorizer_settings() -> AuthorizerSettings:
    return load_settings(AuthorizerSettings)


@cache
def api_settings() -> ApiSettings:
    return load_settings(ApiSettings)


@cache
def worker_settings() -> WorkerSettings:
    return load_settings(WorkerSettings)


@cache
def maintenance_settings() -> MaintenanceSettings:
    return load_settings(MaintenanceSettings)


@cache
def webhook_settings() -> WebhookSettings:
    return load_settings(WebhookSettings)


def forget_settings() -> None:
    """Read the environment again on next use (tests change it between cases)."""
    for reader in (
        authorizer_settings,
        api_settings,
        worker_settings,
        maintenance_settings,
        webhook_settings,
    ):
        reader.cache_clear()
