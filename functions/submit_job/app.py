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
    job = job_service().submit(current_principal(app), request)
    return SubmitAccepted(job_id=job.id, message="Job submitted successfully")


lambda_handler = lambda_entry(app)
