"""GET /jobs/list: the caller's jobs (an admin: everyone's), newest first, paged."""

from aws_lambda_powertools.event_handler import Response

from matchq.api import (
    create_app,
    current_principal,
    int_param,
    json_response,
    lambda_entry,
    query_param,
)
from matchq.services.jobs import parse_status
from matchq.services.wiring import job_service

app = create_app()
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@app.get("/api/v1/jobs/list")
def list_jobs() -> Response:
    jobs, next_token = job_service().list_jobs(
        current_principal(app),
        status=parse_status(query_param(app, "status")),
        limit=int_param(app, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT),
        next_token=query_param(app, "next_token") or None,
    )
    headers = {"X-Next-Token": next_token} if next_token else {}
    return json_response([job.to_api() for job in jobs], headers=headers)


lambda_handler = lambda_entry(app)
