"""Generates the API's OpenAPI document from the API functions' code: docs/openapi.json.

Each `functions/*/app.py` that builds a resolver contributes its routes (Powertools
generates their schemas from the pydantic models and `Annotated` parameters); the
documents are merged with Powertools' OpenAPIMerge. Validation errors are 400s with the
error body here (not Powertools' 422), and every route but the document itself needs
the bearer token.

usage: python scripts/openapi.py            write docs/openapi.json
       python scripts/openapi.py --check    exit 1 when docs/openapi.json is out of date
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "openapi.json"
DOCUMENT_PATH = "/api/v1/openapi.json"
# What the API functions need to import (they read their settings at start); no AWS call
# is made while generating.
IMPORT_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "MATCHQ_TABLE_NAME": "jobs",
    "MATCHQ_BUCKET_NAME": "data",
    "MATCHQ_QUEUE_URL_LOW": "https://sqs/low",
    "MATCHQ_QUEUE_URL_NORMAL": "https://sqs/normal",
    "MATCHQ_QUEUE_URL_HIGH": "https://sqs/high",
    "MATCHQ_QUEUE_URL_URGENT": "https://sqs/urgent",
    "MATCHQ_WORKER_CONCURRENCY": "1,1,1,1",
    "MATCHQ_MAX_UPLOAD_BYTES": "1",
}
DESCRIPTION = (
    "Record matching of two tabular files as prioritised, cancellable, observable jobs. "
    "Every route needs `Authorization: Bearer <JWT>` except this document. Every 4xx and "
    "5xx answer carries the error body `{error, details, timestamp}`. Reference: docs/api.md."
)


def api_function_files() -> list[Path]:
    """The handler files that build a resolver (the worker, maintenance and authorizer don't)."""
    return sorted(
        path
        for path in (ROOT / "functions").glob("*/app.py")
        if "lambda_entry(app)" in path.read_text(encoding="utf-8")
    )


SERVER_ERROR = {
    "description": "Unexpected error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


def _errors_as_error_body(node: Any) -> None:
    """Powertools documents validation as 422 and response validation as its own 500 body;
    here a bad request is a 400 and any 500 carries the error body."""
    for path_item in node.get("paths", {}).values():
        for operation in path_item.values():
            operation["responses"].pop("422", None)
            operation["responses"]["500"] = SERVER_ERROR
    schemas = node.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)


def generate() -> dict[str, Any]:
    """The merged, post-processed document."""
    for key, value in IMPORT_ENV.items():
        os.environ.setdefault(key, value)
    sys.path.insert(0, str(ROOT / "shared"))
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

    import matchq

    merge = OpenAPIMerge(
        title="matchq job API",
        version=matchq.__version__,
        description=DESCRIPTION,
        on_conflict="error",
    )
    for path in api_function_files():
        merge.add_file(path, resolver_name="app")
    document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    _errors_as_error_body(document)
    document.setdefault("components", {})["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    document["security"] = [{"bearerAuth": []}]
    for path, path_item in document["paths"].items():
        for operation in path_item.values():
            if path == DOCUMENT_PATH:
                operation["security"] = []
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    text = render(generate())
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.relative_to(ROOT)} is out of date: run python scripts/openapi.py")
            return 1
        return 0
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
