"""GET /jobs/{job_id}: one job's details."""

from matchq.api import create_app, current_principal, lambda_entry
from matchq.api.schemas import JOB_ERRORS, answers
from matchq.models import JobView
from matchq.services.wiring import job_service

app = create_app()


@app.get("/api/v1/jobs/<job_id>", summary="One job", responses=answers(200, "The job", JOB_ERRORS))
def get_job(job_id: str) -> JobView:
    return job_service().view(current_principal(app), job_id)


lambda_handler = lambda_entry(app)
