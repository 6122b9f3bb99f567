"""POST /jobs/{job_id}/cancel: pending or running -> cancelled."""

from matchq.api import create_app, current_principal, lambda_entry
from matchq.api.schemas import CONFLICT, JOB_ERRORS, Success, answers
from matchq.services.wiring import job_service

app = create_app()


@app.post(
    "/api/v1/jobs/<job_id>/cancel",
    summary="Cancel a job",
    responses=answers(200, "Cancelled", JOB_ERRORS, CONFLICT),
)
def cancel_job(job_id: str) -> Success:
    job_service().cancel(current_principal(app), job_id)
    return Success(success=True, message="Job cancelled successfully")


lambda_handler = lambda_entry(app)
