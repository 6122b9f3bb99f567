"""POST /jobs/submit: validate the job, check its files and columns, queue it."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from matchq.api import ERROR_RESPONSES, create_app, current_principal, lambda_entry
from matchq.api.schemas import UNAVAILABLE, SubmitAccepted, answers
from matchq.models import SubmitRequest
from matchq.services.wiring import job_service

app = create_app()


@app.post(
    "/api/v1/jobs/submit",
    summary="Submit a matching job",
    responses=answers(200, "Queued", ERROR_RESPONSES, UNAVAILABLE),
)
def submit_job(request: Annotated[SubmitRequest, Body()]) -> SubmitAccepted:
    key = app.current_event.headers.get("idempotency-key")  # headers are case-insensitive
    job_id = job_service().submit_once(current_principal(app), request, key, app.lambda_context)
    return SubmitAccepted(job_id=job_id, message="Job submitted successfully")


lambda_handler = lambda_entry(app)
