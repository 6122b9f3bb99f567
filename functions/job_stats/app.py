"""GET /jobs/stats: job counts by status and worker capacity."""

from typing import Any

from matchq.api import create_app, current_principal, lambda_entry
from matchq.services.wiring import job_service

app = create_app()


@app.get("/api/v1/jobs/stats")
def job_stats() -> dict[str, Any]:
    return job_service().stats(current_principal(app))


lambda_handler = lambda_entry(app)
