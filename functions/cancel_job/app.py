"""POST /jobs/{job_id}/cancel: pending or running -> cancelled."""

from typing import Any

from matchq.api import create_app, current_principal, lambda_entry
from matchq.services.wiring import job_service

app = create_app()


@app.post("/api/v1/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> dict[str, Any]:
    job_service().cancel(current_principal(app), job_id)
    return {"success": True, "message": "Job cancelled successfully"}


lambda_handler = lambda_entry(app)
