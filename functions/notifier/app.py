"""SQS notifier: each job state change to EventBridge and to the owner's webhooks' queue."""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from matchq.messages import StateChangeRecord
from matchq.observability import logger, metrics, start_invocation
from matchq.services.wiring import notifier
from matchq.settings import webhook_settings

webhook_settings()  # a missing variable fails the cold start, naming it

processor = BatchProcessor(
    event_type=EventType.SQS, model=StateChangeRecord, raise_on_entire_batch_failure=False
)


def record_handler(record: StateChangeRecord) -> int:
    start_invocation()
    return notifier().handle(record.body, record.messageId)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
