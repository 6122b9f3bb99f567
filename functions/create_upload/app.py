"""POST /files: a file id and a presigned POST to upload the file to."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from matchq.api import ERROR_RESPONSES, create_app, current_principal, lambda_entry
from matchq.api.schemas import UploadGrant, answers
from matchq.models import UploadRequest
from matchq.services.wiring import file_service

app = create_app()


@app.post(
    "/api/v1/files",
    summary="Start an upload: a file id and a presigned POST",
    responses=answers(
        201, "Upload with a multipart POST of the fields plus the file", ERROR_RESPONSES
    ),
    status_code=201,
)
def create_upload(request: Annotated[UploadRequest, Body()]) -> Response[UploadGrant]:
    grant = file_service().create_upload(current_principal(app), request.filename)
    return Response(
        status_code=201,
        content_type="application/json",
        body=UploadGrant.model_validate(grant),
    )


lambda_handler = lambda_entry(app)
