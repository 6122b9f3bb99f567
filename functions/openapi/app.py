"""GET /openapi.json: the API's OpenAPI document (docs/openapi.json), served without a token."""

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response

from matchq.api import create_app, lambda_entry

# The committed document, generated from the API functions by scripts/openapi.py.
DOCUMENT: dict[str, Any] = json.loads((Path(__file__).parent / "openapi.json").read_bytes())

app = create_app()


@app.get("/api/v1/openapi.json", summary="This OpenAPI document", security=[])
def openapi_document() -> Response[dict[str, Any]]:
    return Response(status_code=200, content_type="application/json", body=DOCUMENT)


lambda_handler = lambda_entry(app)
