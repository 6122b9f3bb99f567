"""GET /jobs/list: the caller's jobs (an admin: everyone's), newest first, paged."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from matchq.api import ERROR_RESPONSES, create_app, current_principal, lambda_entry
from matchq.api.schemas import answers
from matchq.models import JobStatus, JobView
from matchq.services.wiring import job_service

app = create_app()
LIST_ANSWERS = answers(200, "A page of jobs", ERROR_RESPONSES)
LIST_ANSWERS[200]["headers"] = {
    "X-Next-Token": {
        "description": "Present when more jobs follow: pass it as next_token",
        "schema": {"type": "string"},
    }
}


@app.get(
    "/api/v1/jobs/list",
    summary="Jobs, newest first; header X-Next-Token when more follow",
    responses=LIST_ANSWERS,
)
def list_jobs(
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Jobs per page")] = 100,
    next_token: Annotated[
        str | None, Query(max_length=2048, description="X-Next-Token of the previous page")
    ] = None,
) -> Response[list[JobView]]:
    jobs, token = job_service().list_jobs(
        current_principal(app), status=status, limit=limit, next_token=next_token or None
    )
    return Response(
        status_code=200,
        content_type="application/json",
        body=[job.to_api() for job in jobs],
        headers={"X-Next-Token": token} if token else {},
    )


lambda_handler = lambda_entry(app)
