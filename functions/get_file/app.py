"""GET /files/{file_id}: an uploaded file's columns and first rows, and how it is read."""

from matchq.api import create_app, current_principal, lambda_entry
from matchq.api.schemas import FILE_ERRORS, FileView, answers
from matchq.services.wiring import file_service

app = create_app()


@app.get(
    "/api/v1/files/<file_id>",
    summary="An uploaded file: columns, first rows, format, encoding and delimiter",
    responses=answers(200, "The file's preview", FILE_ERRORS),
)
def get_file(file_id: str) -> FileView:
    return FileView.model_validate(file_service().describe(current_principal(app), file_id))


lambda_handler = lambda_entry(app)
