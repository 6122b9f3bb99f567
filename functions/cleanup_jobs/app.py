"""POST /jobs/cleanup: remove finished jobs older than max_age_hours, with their files."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from matchq.api import ERROR_RESPONSES, create_app, current_principal, lambda_entry
from matchq.api.schemas import CleanupResult, answers
from matchq.services.wiring import job_service

app = create_app()


@app.post(
    "/api/v1/jobs/cleanup",
    summary="Remove finished jobs older than max_age_hours, with their files",
    responses=answers(200, "What was removed", ERROR_RESPONSES),
)
def cleanup_jobs(
    max_age_hours: Annotated[int, Query(ge=1, le=168, description="Age limit in hours")] = 24,
) -> CleanupResult:
    report = job_service().cleanup(current_principal(app), max_age_hours)
    return CleanupResult.model_validate(report.to_api())


lambda_handler = lambda_entry(app)
