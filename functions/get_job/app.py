"""GET /jobs/{job_id}: one job's details."""

from typing import Any

from matchq.api import create_app, current_principal, lambda_entry
from matchq.services.wiring import job_service

app = create_app()


@app.get("/api/v1/jobs/<job_id>")
def get_job(job_id: str) -> dict[str, Any]:
    return job_service().get(current_principal(app), job_id).to_api()


lambda_handler = lambda_entry(app)
