"""POST /jobs/cleanup: remove finished jobs older than max_age_hours, with their files."""

from typing import Any

from matchq.api import create_app, current_principal, int_param, lambda_entry
from matchq.services.wiring import job_service

app = create_app()


@app.post("/api/v1/jobs/cleanup")
def cleanup_jobs() -> dict[str, Any]:
    max_age = int_param(app, "max_age_hours", default=24, low=1, high=168)
    return job_service().cleanup(current_principal(app), max_age).to_api()


lambda_handler = lambda_entry(app)
