"""GET /jobs/{job_id}/results: short-lived download links of a completed job's files."""

from matchq.api import create_app, current_principal, lambda_entry
from matchq.api.schemas import CONFLICT, JOB_ERRORS, Results, answers
from matchq.services.wiring import job_service

app = create_app()


@app.get(
    "/api/v1/jobs/<job_id>/results",
    summary="Download links of a completed job's result files",
    responses=answers(200, "The result files", JOB_ERRORS, CONFLICT),
)
def job_results(job_id: str) -> Results:
    return Results.model_validate(job_service().results(current_principal(app), job_id))


lambda_handler = lambda_entry(app)
