"""GET /jobs/{job_id}/results: short-lived download links of a completed job's files."""

from typing import Any

from matchq.api import create_app, current_principal, lambda_entry
from matchq.services.wiring import job_service

app = create_app()


@app.get("/api/v1/jobs/<job_id>/results")
def job_results(job_id: str) -> dict[str, Any]:
    return job_service().results(current_principal(app), job_id)


lambda_handler = lambda_entry(app)
