"""POST /jobs/submit: validate the job, check its files and columns, queue it."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Header

from matchq.api import ERROR_RESPONSES, create_app, current_principal, lambda_entry
from matchq.api.schemas import IDEMPOTENCY_CONFLICT, UNAVAILABLE, SubmitAccepted, answers
from matchq.models import SubmitRequest
from matchq.services.wiring import job_service

app = create_app()


@app.post(
    "/api/v1/jobs/submit",
    summary="Submit a matching job",
    responses=answers(200, "Queued", ERROR_RESPONSES, IDEMPOTENCY_CONFLICT, UNAVAILABLE),
)
def submit_job(
    request: Annotated[SubmitRequest, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description=(
                "1 to 128 printable ASCII characters: the same key from the same user within"
                " 24 hours returns the first answer and creates nothing; with another body, 409"
            ),
        ),
    ] = None,
) -> SubmitAccepted:
    job_id = job_service().submit_once(
        current_principal(app), request, idempotency_key, app.lambda_context
    )
    return SubmitAccepted(job_id=job_id, message="Job submitted successfully")


lambda_handler = lambda_entry(app)
