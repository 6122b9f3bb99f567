"""One Logger, Tracer and Metrics for the whole package, configured by POWERTOOLS_* variables."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="matchq")
tracer = Tracer(service="matchq")
metrics = Metrics(namespace="matchq", service="matchq")

# Keys `tag` adds; each handler's `inject_lambda_context(clear_state=True)` drops them
# at the start of the next invocation.
INVOCATION_KEYS = ("job_id", "user_id")


def tag(**keys: object) -> None:
    """Add `job_id` / `user_id` to every later log line of this invocation."""
    logger.append_keys(**keys)


def start_invocation() -> None:
    """Forget the job and user of the previous record (a batch handles several in turn)."""
    logger.remove_keys(INVOCATION_KEYS)
