"""Scheduled maintenance: automatic cleanup by retention and the stale-job reaper."""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from matchq.observability import logger, metrics
from matchq.services.wiring import maintenance
from matchq.settings import maintenance_settings

maintenance_settings()  # a missing variable fails the cold start, naming it


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = asdict(maintenance().run())
    logger.info("maintenance done", extra=report)
    return report
