"""The served API against its own OpenAPI document, with schemathesis: no 5xx, and every
answer as the document describes it (bounded: a few examples per operation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.e2e_support import Stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = int(os.environ.get("MATCHQ_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "negative_data_rejection",
    ]
)


def test_the_document_is_served_without_a_token(stack: Stack) -> None:
    response = httpx.get(f"{stack.base_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert response.json() == committed


def test_schemathesis_finds_no_server_error_and_no_answer_off_schema(
    stack: Stack, tmp_path: Path
) -> None:
    root = stack.base_url.removesuffix("/api/v1")
    token = stack.token("schemathesis")
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{stack.base_url}/openapi.json",
        "--url",
        root,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--max-time",
        "120",
        "--seed",
        "20261202",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=400, check=False, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
