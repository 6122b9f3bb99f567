"""DELETE /jobs/{job_id}: a finished job and its result files."""

from typing import Any

from matchq.api import create_app, current_principal, lambda_entry
from matchq.services.wiring import job_service

app = create_app()


@app.delete("/api/v1/jobs/<job_id>")
def delete_job(job_id: str) -> dict[str, Any]:
    job_service().delete(current_principal(app), job_id)
    return {"success": True, "message": "Job deleted successfully"}


lambda_handler = lambda_entry(app)
