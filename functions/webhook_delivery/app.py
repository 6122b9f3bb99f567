"""SQS webhook delivery: sign and POST one state change to one webhook; a failed attempt
is tried again later (exponential schedule), then dead-lettered."""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from matchq.messages import Attempt, DeliveryRecord
from matchq.observability import logger, metrics, start_invocation
from matchq.services.wiring import deliverer
from matchq.settings import webhook_settings

webhook_settings()  # a missing variable fails the cold start, naming it

processor = BatchProcessor(
    event_type=EventType.SQS, model=DeliveryRecord, raise_on_entire_batch_failure=False
)


def record_handler(record: DeliveryRecord) -> str:
    start_invocation()
    attempt = Attempt(
        message=record.body,
        message_id=record.messageId,
        receipt_handle=record.receiptHandle,
        receive_count=int(record.attributes.ApproximateReceiveCount),
    )
    outcome = deliverer().handle(attempt)
    logger.info("delivery handled", extra={"outcome": outcome.value})
    return outcome.value


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
