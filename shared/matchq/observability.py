"""One Logger, Tracer and Metrics for the whole package, configured by POWERTOOLS_* variables."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="matchq")
tracer = Tracer(service="matchq")
metrics = Metrics(namespace="matchq", service="matchq")


def tag(**keys: object) -> None:
    """Add `job_id` / `user_id` to every log line of this invocation.

    Thread-local keys: the local stack runs concurrent invocations as threads of one
    process, and their keys must not mix (in Lambda it is one thread either way).
    """
    logger.thread_safe_append_keys(**keys)


def start_invocation() -> None:
    """Forget the keys of the previous invocation on this thread."""
    logger.thread_safe_clear_keys()
