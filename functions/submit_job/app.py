"""POST /jobs/submit: validate the job, check its files and columns, queue it."""

from aws_lambda_powertools.event_handler import Response

from matchq.api import create_app, current_principal, json_body, json_response, lambda_entry
from matchq.models import parse_submit
from matchq.services.wiring import job_service

app = create_app()


@app.post("/api/v1/jobs/submit")
def submit_job() -> Response:
    request = parse_submit(json_body(app))
    job = job_service().submit(current_principal(app), request)
    return json_response({"job_id": job.id, "message": "Job submitted successfully"})


lambda_handler = lambda_entry(app)
