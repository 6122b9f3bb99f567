"""One Logger, Tracer and Metrics for the whole package, configured by POWERTOOLS_* variables.

The Tracer is built on first use of `tracer`: building it imports the X-Ray SDK, which
creates a botocore session (about 250 ms of every cold start). Only the worker imports it;
the API functions, the authorizer and maintenance are traced by Lambda itself (the
template's `Tracing: Active`), without subsegments of their own.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="matchq")
metrics = Metrics(namespace="matchq", service="matchq")

# Keys `tag` adds; each handler's `inject_lambda_context(clear_state=True)` drops them
# at the start of the next invocation.
INVOCATION_KEYS = ("job_id", "user_id", "webhook_id", "event_id", "delivery_id")


def __getattr__(name: str) -> Any:
    if name == "tracer":
        built = Tracer(service="matchq")
        globals()["tracer"] = built  # later look-ups find it without coming here
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


tracer: Tracer  # built by `__getattr__` on first use


def tag(**keys: object) -> None:
    """Add `job_id` / `user_id` to every later log line of this invocation."""
    logger.append_keys(**keys)


def start_invocation() -> None:
    """Forget the job and user of the previous record (a batch handles several in turn)."""
    logger.remove_keys(INVOCATION_KEYS)
