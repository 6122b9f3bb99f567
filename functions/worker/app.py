"""SQS worker: one job per message, partial batch failures reported."""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from matchq.observability import logger, metrics, start_invocation, tracer
from matchq.services.wiring import job_runner

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> str:
    start_invocation()
    context = lambda_context
    outcome = job_runner().handle(
        record.body,
        receive_count=int(record.attributes.approximate_receive_count or 1),
        time_left=(lambda: context.get_remaining_time_in_millis() / 1000) if context else None,
    )
    logger.info("message handled", extra={"outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
