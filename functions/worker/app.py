"""SQS worker: one job per message, partial batch failures reported."""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from matchq.messages import JobRecord
from matchq.observability import logger, metrics, start_invocation, tracer
from matchq.services.wiring import job_runner
from matchq.settings import worker_settings

worker_settings()  # a missing variable fails the cold start, naming it
# The engine (numpy, pandas, rapidfuzz: about 0.6 s of imports) loads in the init phase, as
# part of the cold start, not inside the first job's time; the local stack warms a slot the
# same way before it polls.
import matchq.matching.coordinate  # noqa: E402, F401

# A record that fails (an unreadable body, a crash) is reported and delivered again, then
# dead-lettered; the invocation itself succeeds, even when its only record failed.
processor = BatchProcessor(
    event_type=EventType.SQS, model=JobRecord, raise_on_entire_batch_failure=False
)


def record_handler(record: JobRecord, lambda_context: LambdaContext | None = None) -> str:
    start_invocation()
    context = lambda_context
    outcome = job_runner().handle(
        record.body,
        receive_count=int(record.attributes.ApproximateReceiveCount),
        time_left=(lambda: context.get_remaining_time_in_millis() / 1000) if context else None,
    )
    logger.info("message handled", extra={"outcome": outcome.value})
    return outcome.value


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
