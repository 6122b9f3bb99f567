"""GET /files/{file_id} over real HTTP on the local stack: the template's GetFileFunction
behind the gateway and the authorizer, reading an upload made with the presigned POST."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from matchq_client import MatchqClient
from tests.e2e.e2e_support import Stack, bearer

pytestmark = pytest.mark.e2e


def _upload(api: MatchqClient, path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return api.upload_file(path)


def _error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "details", "timestamp"}, body
    assert body["error"] == error
    return body


def test_preview_owner_other_user_admin_and_unknown(
    stack: Stack, api: MatchqClient, raw: httpx.Client, tmp_path: Path
) -> None:
    content = 'name;city\r\n"Lee; Ann";Köln\r\nBob;\r\n'.encode("utf-16")
    file_id = _upload(api, tmp_path / "people.csv", content)

    response = raw.get(f"/files/{file_id}", headers=bearer(api))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "file_id": file_id,
        "filename": "people.csv",
        "size_bytes": len(content),
        "format": "csv",
        "encoding": "UTF-16",
        "delimiter": ";",
        "columns": ["name", "city"],
        "sample_rows": [{"name": "Lee; Ann", "city": "Köln"}, {"name": "Bob", "city": None}],
    }

    with stack.client(f"other-{uuid.uuid4().hex[:6]}") as other:
        body = _error(raw.get(f"/files/{file_id}", headers=bearer(other)), 403, "Forbidden")
        assert body["details"] == "Access denied to this file"
    with stack.client("ops", admin=True) as admin:
        response = raw.get(f"/files/{file_id}", headers=bearer(admin))
        assert response.status_code == 200, response.text
        assert response.json()["columns"] == ["name", "city"]

    unknown = f"file_{uuid.uuid4()}"
    body = _error(raw.get(f"/files/{unknown}", headers=bearer(api)), 404, "Not Found")
    assert body["details"] == f"File not found: {unknown}"
    _error(raw.get(f"/files/{file_id}"), 401, "Unauthorized")


def test_a_created_but_not_uploaded_file_is_not_found(api: MatchqClient, raw: httpx.Client) -> None:
    response = raw.post("/files", json={"filename": "later.jsonl"}, headers=bearer(api))
    assert response.status_code == 201, response.text
    file_id = response.json()["file_id"]
    body = _error(raw.get(f"/files/{file_id}", headers=bearer(api)), 404, "Not Found")
    assert body["details"].startswith(f"File not uploaded yet: {file_id}")
