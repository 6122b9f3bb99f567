"""POST /files: a file id and a presigned POST to upload the file to."""

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from matchq.api import create_app, current_principal, json_body, json_response, lambda_entry
from matchq.models import UploadRequest, parse_model
from matchq.services.wiring import file_service

app = create_app()


@app.post("/api/v1/files")
def create_upload() -> Response:
    request = parse_model(UploadRequest, json_body(app))
    upload = file_service().create_upload(current_principal(app), request.filename)
    return json_response(upload, HTTPStatus.CREATED)


lambda_handler = lambda_entry(app)
