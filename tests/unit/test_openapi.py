"""The OpenAPI document: generated from the API functions, committed, served as committed."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT, FakeContext, load_event, load_function

DOCUMENT = ROOT / "docs" / "openapi.json"


def test_the_committed_document_is_what_the_code_generates() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "openapi.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_api_route_of_the_template_is_in_the_document() -> None:
    from matchq_local.template import load_stack

    document = json.loads(DOCUMENT.read_text())
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    routes = {(r.method, r.path) for r in load_stack("http://127.0.0.1:1").routes}
    # The web console's page and files are routes of the API, not part of its interface.
    assert routes - {("GET", "/"), ("GET", "/console/{asset}")} == documented


def test_every_route_but_the_document_needs_the_bearer_token() -> None:
    document = json.loads(DOCUMENT.read_text())
    assert document["security"] == [{"bearerAuth": []}]
    public = [
        path
        for path, item in document["paths"].items()
        for operation in item.values()
        if operation.get("security") == []
    ]
    assert public == ["/api/v1/openapi.json"]


def test_errors_are_documented_as_the_error_body_not_powertools_422() -> None:
    document = json.loads(DOCUMENT.read_text())
    for path, item in document["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert "422" not in codes, (method, path)
            for code in codes - {"200", "201"}:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)


def test_the_function_serves_the_committed_document(aws: object) -> None:
    event = load_event("get_job")
    event.update(path="/api/v1/openapi.json", resource="/api/v1/openapi.json", pathParameters=None)
    response = load_function("openapi").lambda_handler(event, FakeContext())
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"]) == json.loads(DOCUMENT.read_text())
