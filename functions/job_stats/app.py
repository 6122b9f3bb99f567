"""GET /jobs/stats: job counts by status and worker capacity."""

from matchq.api import ERROR_RESPONSES, create_app, current_principal, lambda_entry
from matchq.api.schemas import Stats, answers
from matchq.services.wiring import job_service

app = create_app()


@app.get(
    "/api/v1/jobs/stats",
    summary="Job counts and worker capacity",
    responses=answers(200, "Counts by status", ERROR_RESPONSES),
)
def job_stats() -> Stats:
    return Stats.model_validate(job_service().stats(current_principal(app)))


lambda_handler = lambda_entry(app)
