"""Error answers over real HTTP: every 4xx body is {"error", "details", "timestamp"}."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from matchq.auth import issue_token
from matchq_client import MatchqClient
from tests.e2e.e2e_support import TINY_CONFIG, Stack, bearer, tiny_files, wait_job

pytestmark = pytest.mark.e2e

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "details", "timestamp"}, body
    assert body["error"] == error
    assert ISO_Z.match(body["timestamp"]), body["timestamp"]
    return body


def test_missing_token(raw: httpx.Client) -> None:
    body = _error(raw.get("/jobs/list"), 401, "Unauthorized")
    assert body["details"] == "Missing Authorization header"


def test_malformed_header(raw: httpx.Client) -> None:
    body = _error(
        raw.get("/jobs/list", headers={"Authorization": "Basic abc"}), 401, "Unauthorized"
    )
    assert "Bearer" in body["details"]


def test_expired_token(stack: Stack, raw: httpx.Client) -> None:
    token = issue_token(stack.secret, "alice", ttl_seconds=-120)
    response = raw.get("/jobs/stats", headers={"Authorization": f"Bearer {token}"})
    assert _error(response, 401, "Unauthorized")["details"] == "Token has expired"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_forged_token(raw: httpx.Client) -> None:
    token = issue_token("not-the-secret-of-this-stack-at-all", "alice")
    response = raw.get("/jobs/stats", headers={"Authorization": f"Bearer {token}"})
    assert _error(response, 401, "Unauthorized")["details"] == "Token signature is invalid"


def test_unsigned_token_is_refused(raw: httpx.Client) -> None:
    import jwt

    token = jwt.encode({"sub": "alice", "exp": 4102444800}, key=None, algorithm="none")
    response = raw.get("/jobs/stats", headers={"Authorization": f"Bearer {token}"})
    _error(response, 401, "Unauthorized")


def test_other_users_job_is_forbidden(
    stack: Stack, api: MatchqClient, raw: httpx.Client, tmp_path: Path
) -> None:
    left, right = tiny_files(tmp_path)
    config = {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)}
    job_id = api.submit_job("alice's job", config)
    with stack.client(f"other-{uuid.uuid4().hex[:6]}") as other:
        for method, path in (
            ("GET", f"/jobs/{job_id}"),
            ("POST", f"/jobs/{job_id}/cancel"),
            ("DELETE", f"/jobs/{job_id}"),
            ("GET", f"/jobs/{job_id}/results"),
        ):
            response = raw.request(method, path, headers=bearer(other))
            body = _error(response, 403, "Forbidden")
            assert body["details"] == "Access denied to this job"
        assert job_id not in [j["id"] for j in other.list_jobs()]
    with stack.client("an-admin", admin=True) as admin:
        assert admin.get_job(job_id)["id"] == job_id
    wait_job(api, job_id, timeout=60)


def test_unknown_job_is_404(api: MatchqClient, raw: httpx.Client) -> None:
    job_id = f"job_{uuid.uuid4()}"
    body = _error(raw.get(f"/jobs/{job_id}", headers=bearer(api)), 404, "Not Found")
    assert body["details"] == f"Job not found: {job_id}"


def test_unknown_route_is_404(stack: Stack, raw: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {stack.token('alice')}"}
    _error(raw.get("/no/such/route", headers=headers), 404, "Not Found")
    _error(raw.put("/jobs/list", headers=headers), 404, "Not Found")


def test_bad_priority(api: MatchqClient, raw: httpx.Client, tmp_path: Path) -> None:
    left, right = tiny_files(tmp_path)
    config = {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)}
    for priority in (0, 5, "high"):
        response = raw.post(
            "/jobs/submit",
            json={"name": "x", "config": config, "priority": priority},
            headers=bearer(api),
        )
        body = _error(response, 400, "Bad Request")
        assert body["details"] == "Priority must be between 1 (low) and 4 (urgent)"


def test_unknown_column_names_the_field(
    api: MatchqClient, raw: httpx.Client, tmp_path: Path
) -> None:
    left, right = tiny_files(tmp_path)
    mapping = {"file1_col": "nope", "file2_col": "full_name", "match_type": "fuzzy"}
    config = {
        **TINY_CONFIG,
        "mappings": [mapping],
        "file1": api.upload_file(left),
        "file2": api.upload_file(right),
    }
    response = raw.post("/jobs/submit", json={"name": "x", "config": config}, headers=bearer(api))
    body = _error(response, 400, "Bad Request")
    assert "nope" in body["details"]


def test_bad_cleanup_age(api: MatchqClient, raw: httpx.Client) -> None:
    response = raw.post("/jobs/cleanup", params={"max_age_hours": 0}, headers=bearer(api))
    body = _error(response, 400, "Bad Request")
    assert "max_age_hours" in body["details"]
