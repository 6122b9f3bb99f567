"""DELETE /jobs/{job_id}: a finished job and its result files."""

from matchq.api import create_app, current_principal, lambda_entry
from matchq.api.schemas import CONFLICT, JOB_ERRORS, Success, answers
from matchq.services.wiring import job_service

app = create_app()


@app.delete(
    "/api/v1/jobs/<job_id>",
    summary="Delete a finished job",
    responses=answers(200, "Deleted, with its files", JOB_ERRORS, CONFLICT),
)
def delete_job(job_id: str) -> Success:
    job_service().delete(current_principal(app), job_id)
    return Success(success=True, message="Job deleted successfully")


lambda_handler = lambda_entry(app)
