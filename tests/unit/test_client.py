"""The synchronous SDK (`matchq_client.MatchqClient`) against httpx.MockTransport: no server."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import matchq_client
from matchq_client import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    DownloadError,
    Forbidden,
    Job,
    JobStatus,
    JobTimeout,
    MatchqClient,
    MatchqError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ResultFile,
    RetryPolicy,
    ServerError,
    Unauthorized,
    UploadError,
)
from matchq_client._core import retry_after_seconds

BASE = "http://api.test/api/v1"
S3 = "http://s3.test/bucket"
JOB_ID = "job_12345678-1234-4234-8234-123456789abc"
FILE1 = "file_11111111-1111-4111-8111-111111111111"
FILE2 = "file_22222222-2222-4222-8222-222222222222"

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeServer:
    """Answers "METHOD host/path" from a script (its last answer repeats); records requests."""

    def __init__(self) -> None:
        self.script: dict[str, list[Answer]] = defaultdict(list)
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Answer) -> None:
        url = httpx.URL(path if path.startswith("http") else BASE + path)
        self.script[f"{method} {url.host}{url.path}"] = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = f"{request.method} {request.url.host}{request.url.path}"
        queue = self.script.get(key)
        if not queue:
            return httpx.Response(404, json=error_body("Not Found", f"no fake for {key}"))
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        url = httpx.URL(path if path.startswith("http") else BASE + path)
        return [r for r in self.requests if r.method == method and r.url.path == url.path]


def error_body(error: str, details: str) -> dict[str, str]:
    return {"error": error, "details": details, "timestamp": "2025-01-27T00:00:00Z"}


def job_json(status: str = "running", progress: int = 45, **extra: Any) -> dict[str, Any]:
    job = {
        "id": JOB_ID,
        "name": "Customer Data Matching - Batch 1",
        "status": status,
        "priority": 2,
        "created_at": "2025-01-27T10:00:00Z",
        "started_at": "2025-01-27T10:05:00Z",
        "completed_at": "2025-01-27T10:15:00Z" if status == "completed" else None,
        "progress": progress,
        "message": f"{status} {progress}",
        "error_message": None,
        "result_files": [f"/results/{JOB_ID}/matched_results.json"]
        if status == "completed"
        else [],
        "user_id": "admin",
        "duration": 300,
        "estimated_remaining": 0 if status == "completed" else 360,
    }
    job.update(extra)
    return job


def grant(file_id: str = FILE1, max_bytes: int = 1_000_000) -> httpx.Response:
    return httpx.Response(
        201,
        json={
            "file_id": file_id,
            "filename": "a.csv",
            "upload": {
                "url": S3,
                "fields": {"key": f"uploads/u/{file_id}/a.csv", "policy": "cG9s", "x-sig": "s"},
            },
            "max_bytes": max_bytes,
            "expires_in": 900,
        },
    )


S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code>'
    "<Message>Your proposed upload exceeds the maximum allowed size</Message>"
    "<RequestId>1</RequestId></Error>"
)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(server: FakeServer, sleeps: list[float]) -> MatchqClient:
    return MatchqClient(
        BASE,
        "tok",
        transport=httpx.MockTransport(server),
        sleep=sleeps.append,
        rng=random.Random(7),
    )


# --- settings ----------------------------------------------------------------------------


def test_defaults_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, server: FakeServer
) -> None:
    monkeypatch.setenv("MATCHQ_URL", "http://env.test/api/v1/")
    monkeypatch.setenv("MATCHQ_TOKEN", "env-token")
    server.on("GET", "http://env.test/api/v1/jobs/stats", httpx.Response(200, json={}))
    with MatchqClient(transport=httpx.MockTransport(server)) as client:
        assert client.base_url == "http://env.test/api/v1"
        client.stats()
    assert server.requests[0].headers["Authorization"] == "Bearer env-token"
    assert str(server.requests[0].url) == "http://env.test/api/v1/jobs/stats"


def test_without_environment_the_local_stack_and_no_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MATCHQ_URL", raising=False)
    monkeypatch.delenv("MATCHQ_TOKEN", raising=False)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with MatchqClient(transport=httpx.MockTransport(handler)) as client:
        assert client.base_url == matchq_client.DEFAULT_URL == "http://localhost:5000/api/v1"
        client.stats()
    assert "Authorization" not in seen[0].headers
    assert seen[0].headers["User-Agent"].startswith("matchq-client/")


def test_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHQ_URL", "http://env.test")
    monkeypatch.setenv("MATCHQ_TOKEN", "env-token")
    client = MatchqClient("http://arg.test/api/v1/", "arg-token")
    assert (client.base_url, client.token) == ("http://arg.test/api/v1", "arg-token")
    assert "arg-token" not in repr(client)
    client.close()


def test_context_manager_closes_the_pool(server: FakeServer) -> None:
    with MatchqClient(BASE, "t", transport=httpx.MockTransport(server)) as client:
        assert not client._http.is_closed
    assert client._http.is_closed


# --- endpoints ---------------------------------------------------------------------------


def test_submit_job_posts_the_spec_body(client: MatchqClient, server: FakeServer) -> None:
    server.on(
        "POST",
        "/jobs/submit",
        httpx.Response(200, json={"job_id": JOB_ID, "message": "Job submitted successfully"}),
    )
    config = {"file1": FILE1, "file2": FILE2, "mappings": [{"file1_col": "a", "file2_col": "b"}]}
    assert client.submit_job("Batch 1", config, priority=3) == JOB_ID
    (request,) = server.requests
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"name": "Batch 1", "config": config, "priority": 3}


def test_get_job_parses_every_field(client: MatchqClient, server: FakeServer) -> None:
    server.on("GET", f"/jobs/{JOB_ID}", httpx.Response(200, json=job_json("completed", 100)))
    job = client.get_job(JOB_ID)
    assert job.id == JOB_ID
    assert job.status == JobStatus.COMPLETED
    assert job.status == "completed"
    assert job.finished and job.succeeded
    assert job.progress == 100 and job.priority == 2
    assert job.created_at == datetime(2025, 1, 27, 10, 0, tzinfo=UTC)
    assert job.completed_at == datetime(2025, 1, 27, 10, 15, tzinfo=UTC)
    assert job.result_files == (f"/results/{JOB_ID}/matched_results.json",)
    assert (job.user_id, job.duration, job.estimated_remaining) == ("admin", 300, 0)
    # The spec's dict-style access keeps working.
    assert job["status"] == "completed"
    assert job.to_dict() == job_json("completed", 100)


def test_job_from_dict_tolerates_extra_and_missing_fields() -> None:
    job = Job.from_dict({"id": "job_x", "status": "pending", "new_field": [1], "duration": None})
    assert job.raw["new_field"] == [1]
    assert (job.name, job.progress, job.duration, job.started_at) == ("", 0, None, None)
    assert not job.finished
    with pytest.raises(AttributeError):
        job.status = "running"  # type: ignore[misc]
    assert {job} == {Job.from_dict({"id": "job_x", "status": "pending"})}


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_finished_statuses(status: str) -> None:
    assert Job.from_dict(job_json(status)).finished


def test_job_ids_are_quoted_into_one_path_segment(client: MatchqClient, server: FakeServer) -> None:
    server.on("GET", "/jobs/a%2F..%2Fstats", httpx.Response(404, json=error_body("Not Found", "")))
    with pytest.raises(NotFound):
        client.get_job("a/../stats")
    assert server.requests[0].url.raw_path == b"/api/v1/jobs/a%2F..%2Fstats"
    with pytest.raises(ValueError, match="invalid job id"):
        client.get_job("")


@pytest.mark.parametrize("name", ["stats", "list"])
def test_route_names_are_no_job_ids(client: MatchqClient, server: FakeServer, name: str) -> None:
    server.on("GET", f"/jobs/{name}", httpx.Response(200, json=[] if name == "list" else {}))
    with pytest.raises(NotFound, match=f"^404 Not Found: Job not found: {name}$"):
        client.get_job(name)
    assert server.requests == []


def test_list_jobs_sends_filters_and_reads_the_next_token(
    client: MatchqClient, server: FakeServer
) -> None:
    server.on(
        "GET",
        "/jobs/list",
        httpx.Response(200, json=[job_json()], headers={"X-Next-Token": "abc"}),
        httpx.Response(200, json=[]),
    )
    page = client.list_jobs(status=JobStatus.RUNNING, limit=10)
    assert dict(server.requests[0].url.params) == {"status": "running", "limit": "10"}
    assert page.next_token == "abc" and page.has_more
    assert [job.id for job in page] == [JOB_ID] and len(page) == 1 and page[0].id == JOB_ID
    last = client.list_jobs(next_token="abc")
    assert dict(server.requests[1].url.params) == {"next_token": "abc"}
    assert last.next_token is None and not last.has_more and len(last) == 0


def test_iter_jobs_follows_x_next_token(client: MatchqClient, server: FakeServer) -> None:
    pages = {
        None: ([job_json(id="job_1"), job_json(id="job_2")], "t1"),
        "t1": ([job_json(id="job_3"), job_json(id="job_4")], "t2"),
        "t2": ([job_json(id="job_5")], None),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        jobs, token = pages[request.url.params.get("next_token")]
        return httpx.Response(200, json=jobs, headers={"X-Next-Token": token} if token else {})

    server.on("GET", "/jobs/list", answer)
    ids = [job.id for job in client.iter_jobs(status="completed", page_size=2)]
    assert ids == ["job_1", "job_2", "job_3", "job_4", "job_5"]
    assert [r.url.params.get("next_token") for r in server.requests] == [None, "t1", "t2"]
    assert {r.url.params["limit"] for r in server.requests} == {"2"}
    assert {r.url.params["status"] for r in server.requests} == {"completed"}


def test_iter_jobs_stops_on_a_repeated_token(client: MatchqClient, server: FakeServer) -> None:
    server.on("GET", "/jobs/list", httpx.Response(200, json=[], headers={"X-Next-Token": "t"}))
    with pytest.raises(MatchqError, match="repeated"):
        list(client.iter_jobs())
    assert len(server.requests) == 2


def test_cancel_and_delete(client: MatchqClient, server: FakeServer) -> None:
    ok = {"success": True, "message": "done"}
    server.on("POST", f"/jobs/{JOB_ID}/cancel", httpx.Response(200, json=ok))
    server.on("DELETE", f"/jobs/{JOB_ID}", httpx.Response(200, json=ok))
    assert client.cancel_job(JOB_ID) is True
    assert client.delete_job(JOB_ID) is True
    assert [(r.method, r.url.path) for r in server.requests] == [
        ("POST", f"/api/v1/jobs/{JOB_ID}/cancel"),
        ("DELETE", f"/api/v1/jobs/{JOB_ID}"),
    ]


def test_cancel_and_delete_can_return_the_apis_answer(
    client: MatchqClient, server: FakeServer
) -> None:
    cancelled = {"success": True, "message": "Job cancelled successfully"}
    deleted = {"success": True, "message": "Job deleted successfully"}
    server.on("POST", f"/jobs/{JOB_ID}/cancel", httpx.Response(200, json=cancelled))
    server.on("DELETE", f"/jobs/{JOB_ID}", httpx.Response(200, json=deleted))
    assert client.cancel(JOB_ID) == cancelled
    assert client.delete(JOB_ID) == deleted


def test_a_failed_cancel_is_false(client: MatchqClient, server: FakeServer) -> None:
    server.on("POST", f"/jobs/{JOB_ID}/cancel", httpx.Response(200, json={"success": False}))
    assert client.cancel_job(JOB_ID) is False


def test_cancel_of_a_finished_job_is_a_conflict(client: MatchqClient, server: FakeServer) -> None:
    details = f"Job {JOB_ID} is already completed and cannot be cancelled"
    server.on(
        "POST", f"/jobs/{JOB_ID}/cancel", httpx.Response(409, json=error_body("Conflict", details))
    )
    with pytest.raises(Conflict) as caught:
        client.cancel_job(JOB_ID)
    assert str(caught.value) == f"409 Conflict: {details}"


def test_stats_and_its_spec_alias(client: MatchqClient, server: FakeServer) -> None:
    stats = {"total_jobs": 3, "pending": 1, "running": 2, "active_workers": 2, "total_workers": 4}
    server.on("GET", "/jobs/stats", httpx.Response(200, json=stats))
    assert client.stats() == stats
    assert client.get_queue_stats() == stats
    assert len(server.requests) == 2


def test_cleanup_sends_max_age_hours(client: MatchqClient, server: FakeServer) -> None:
    report = {"success": True, "cleaned_jobs": 2, "freed_space_mb": 0.5, "message": "m"}
    server.on("POST", "/jobs/cleanup", httpx.Response(200, json=report))
    assert client.cleanup() == report
    assert client.cleanup(max_age_hours=48) == report
    assert [r.url.params["max_age_hours"] for r in server.requests] == ["24", "48"]


def test_results_lists_files(client: MatchqClient, server: FakeServer) -> None:
    files = [
        {"name": "matched_results.json", "size_bytes": 10, "download_url": f"{S3}/m?sig=1"},
        {"name": "unmatched_1.json", "size_bytes": 2, "download_url": f"{S3}/u?sig=2"},
    ]
    for item in files:
        item["expires_in"] = 900
    body = {"job_id": JOB_ID, "files": files}
    server.on("GET", f"/jobs/{JOB_ID}/results", httpx.Response(200, json=body))
    assert client.results(JOB_ID) == [
        ResultFile("matched_results.json", 10, f"{S3}/m?sig=1", 900),
        ResultFile("unmatched_1.json", 2, f"{S3}/u?sig=2", 900),
    ]


def test_results_before_completion_is_a_conflict(client: MatchqClient, server: FakeServer) -> None:
    body = error_body("Conflict", "results exist only for completed jobs")
    server.on("GET", f"/jobs/{JOB_ID}/results", httpx.Response(409, json=body))
    with pytest.raises(Conflict):
        client.results(JOB_ID)
    assert len(server.requests) == 1


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls", "phrase"),
    [
        (400, BadRequest, "Bad Request"),
        (401, Unauthorized, "Unauthorized"),
        (403, Forbidden, "Forbidden"),
        (404, NotFound, "Not Found"),
        (409, Conflict, "Conflict"),
        (413, PayloadTooLarge, "Content Too Large"),
        (429, RateLimited, "Too Many Requests"),
        (500, ServerError, "Internal Server Error"),
        (503, ServerError, "Service Unavailable"),
        (418, MatchqError, "I'm a Teapot"),
    ],
)
def test_error_statuses_map_to_typed_exceptions(
    status: int, cls: type[MatchqError], phrase: str
) -> None:
    server = FakeServer()
    server.on("POST", "/jobs/submit", httpx.Response(status, json=error_body(phrase, "why")))
    client = MatchqClient(BASE, "t", transport=httpx.MockTransport(server), sleep=lambda _: None)
    with pytest.raises(cls) as caught:
        client.submit_job("n", {})
    exc = caught.value
    assert type(exc) is cls
    assert (exc.status, exc.error, exc.details) == (status, phrase, "why")
    assert exc.timestamp == "2025-01-27T00:00:00Z"
    assert exc.body == error_body(phrase, "why")
    assert (exc.method, exc.url) == ("POST", f"{BASE}/jobs/submit")
    assert str(exc) == f"{status} {phrase}: why"


def test_not_found_reads_like_the_spec(client: MatchqClient, server: FakeServer) -> None:
    body = error_body("Not Found", "Job not found: job_x")
    server.on("GET", "/jobs/job_x", httpx.Response(404, json=body))
    with pytest.raises(NotFound, match=r"^404 Not Found: Job not found: job_x$"):
        client.get_job("job_x")


def test_non_json_error_bodies_still_give_a_clear_error(
    client: MatchqClient, server: FakeServer
) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1>\n<p>nginx</p></body></html>"
    server.on("POST", "/jobs/submit", httpx.Response(502, text=html))
    with pytest.raises(ServerError) as caught:
        client.submit_job("n", {})
    assert str(caught.value) == "502 Bad Gateway: 502 Bad Gateway nginx"
    assert caught.value.body == html

    server.on("POST", "/jobs/cleanup", httpx.Response(500, content=b""))
    with pytest.raises(ServerError, match=r"^500 Internal Server Error$"):
        client.cleanup()


def test_api_gateway_message_bodies_are_understood(
    client: MatchqClient, server: FakeServer
) -> None:
    server.on("GET", "/jobs/stats", httpx.Response(401, json={"message": "Unauthorized"}))
    with pytest.raises(Unauthorized, match=r"^401 Unauthorized: Unauthorized$"):
        client.stats()


def test_a_success_that_is_not_json_is_an_error(client: MatchqClient, server: FakeServer) -> None:
    server.on("GET", "/jobs/stats", httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(MatchqError, match="Invalid Response: expected JSON"):
        client.stats()
    server.on("GET", f"/jobs/{JOB_ID}", httpx.Response(200, json={"total_jobs": 1}))
    with pytest.raises(MatchqError, match="expected a job object"):
        client.get_job(JOB_ID)


# --- retries -----------------------------------------------------------------------------


def test_get_is_retried_on_5xx_with_jittered_backoff(
    client: MatchqClient, server: FakeServer, sleeps: list[float]
) -> None:
    server.on(
        "GET",
        "/jobs/stats",
        httpx.Response(503, json=error_body("Service Unavailable", "x")),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, json={"total_jobs": 0}),
    )
    assert client.stats() == {"total_jobs": 0}
    assert len(server.requests) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


def test_retries_give_up_after_the_limit(server: FakeServer, sleeps: list[float]) -> None:
    server.on("GET", f"/jobs/{JOB_ID}", httpx.Response(500, json=error_body("Internal", "boom")))
    client = MatchqClient(
        BASE, "t", retries=2, transport=httpx.MockTransport(server), sleep=sleeps.append
    )
    with pytest.raises(ServerError, match="boom"):
        client.get_job(JOB_ID)
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_retries_zero_sends_once(server: FakeServer, sleeps: list[float]) -> None:
    server.on("GET", "/jobs/stats", httpx.Response(503))
    client = MatchqClient(
        BASE, "t", retries=0, transport=httpx.MockTransport(server), sleep=sleeps.append
    )
    with pytest.raises(ServerError):
        client.stats()
    assert len(server.requests) == 1 and sleeps == []


def test_delete_is_retried(client: MatchqClient, server: FakeServer) -> None:
    server.on(
        "DELETE",
        f"/jobs/{JOB_ID}",
        httpx.Response(504),
        httpx.Response(200, json={"success": True, "message": "ok"}),
    )
    assert client.delete_job(JOB_ID) is True
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("POST", f"/jobs/{JOB_ID}/cancel", lambda c: c.cancel_job(JOB_ID)),
        ("POST", "/jobs/cleanup", lambda c: c.cleanup()),
        ("POST", "/files", lambda c: c.upload_file(__file__)),
    ],
)
def test_posts_are_never_retried(
    client: MatchqClient,
    server: FakeServer,
    sleeps: list[float],
    method: str,
    path: str,
    call: Callable[[MatchqClient], object],
) -> None:
    server.on(method, path, httpx.Response(503, headers={"Retry-After": "1"}))
    with pytest.raises(ServerError):
        call(client)
    assert len(server.requests) == 1 and sleeps == []


def test_posts_are_not_retried_after_a_connection_error(
    client: MatchqClient, server: FakeServer, sleeps: list[float]
) -> None:
    server.on("POST", f"/jobs/{JOB_ID}/cancel", httpx.ReadTimeout("slow"))
    with pytest.raises(ConnectionFailed, match="timed out"):
        client.cancel_job(JOB_ID)
    assert len(server.requests) == 1 and sleeps == []


def test_submits_are_retried_with_one_generated_idempotency_key(
    client: MatchqClient, server: FakeServer, sleeps: list[float]
) -> None:
    server.on(
        "POST",
        "/jobs/submit",
        httpx.ReadTimeout("slow"),
        httpx.Response(503),
        httpx.Response(200, json={"job_id": JOB_ID, "message": "Job submitted successfully"}),
    )
    assert client.submit_job("n", {}) == JOB_ID
    keys = [r.headers.get("Idempotency-Key") for r in server.requests]
    assert len(keys) == 3 and len(sleeps) == 2
    assert len(set(keys)) == 1 and keys[0] and keys[0].startswith("sdk-")
    server.on(
        "POST",
        "/jobs/submit",
        httpx.Response(200, json={"job_id": JOB_ID, "message": "Job submitted successfully"}),
    )
    client.submit_job("n", {})
    assert server.requests[-1].headers["Idempotency-Key"] != keys[0]  # a key per submit
    client.submit_job("n", {}, idempotency_key="order-42")
    assert server.requests[-1].headers["Idempotency-Key"] == "order-42"


def test_4xx_is_not_retried(client: MatchqClient, server: FakeServer, sleeps: list[float]) -> None:
    server.on("GET", f"/jobs/{JOB_ID}", httpx.Response(404, json=error_body("Not Found", "x")))
    with pytest.raises(NotFound):
        client.get_job(JOB_ID)
    assert len(server.requests) == 1 and sleeps == []


def test_retry_after_is_honoured_on_429(
    client: MatchqClient, server: FakeServer, sleeps: list[float]
) -> None:
    server.on(
        "GET",
        "/jobs/stats",
        httpx.Response(429, headers={"Retry-After": "2"}, json=error_body("Too Many", "slow")),
        httpx.Response(200, json={"ok": 1}),
    )
    assert client.stats() == {"ok": 1}
    assert sleeps == [2.0]


def test_a_retry_after_longer_than_max_backoff_is_raised_at_once(
    client: MatchqClient, server: FakeServer, sleeps: list[float]
) -> None:
    body = error_body("Too Many Requests", "Request rate limit exceeded")
    server.on("GET", "/jobs/stats", httpx.Response(429, headers={"Retry-After": "120"}, json=body))
    with pytest.raises(RateLimited) as caught:
        client.stats()
    assert caught.value.retry_after == 120.0
    assert len(server.requests) == 1 and sleeps == []


def test_retry_after_parsing() -> None:
    now = datetime(2025, 1, 27, 10, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(retries=10, backoff=0.5, max_backoff=4.0)
    rng = random.Random(1)
    for attempt in range(8):
        cap = min(4.0, 0.5 * 2**attempt)
        delays = [policy.backoff_delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # spread over the whole range, not a fixed step
        assert min(delays) < cap * 0.2


def test_connection_errors_are_retried_then_reported_with_the_url(
    client: MatchqClient, server: FakeServer, sleeps: list[float]
) -> None:
    server.on("GET", f"/jobs/{JOB_ID}", httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(ConnectionFailed) as caught:
        client.get_job(JOB_ID)
    message = str(caught.value)
    assert f"{BASE}/jobs/{JOB_ID}" in message
    assert "Connection refused" in message
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(server.requests) == 4 and len(sleeps) == 3


def test_a_timeout_then_success(client: MatchqClient, server: FakeServer) -> None:
    server.on(
        "GET",
        f"/jobs/{JOB_ID}",
        httpx.ReadTimeout("timed out"),
        httpx.Response(200, json=job_json()),
    )
    assert client.get_job(JOB_ID).status == "running"
    assert len(server.requests) == 2


def test_an_unreachable_real_server_is_a_connection_failure() -> None:
    # Port 9 (discard) on localhost: nothing listens there in a test environment.
    client = MatchqClient("http://127.0.0.1:9/api/v1", "t", retries=0, timeout=2)
    with pytest.raises(ConnectionFailed, match=r"Cannot reach http://127.0.0.1:9/api/v1/jobs"):
        client.stats()
    client.close()


# --- upload ------------------------------------------------------------------------------


def multipart_parts(request: httpx.Request) -> list[tuple[str, bytes]]:
    """(field name, value) of a multipart/form-data body, in order."""
    boundary = request.headers["Content-Type"].split("boundary=")[1].encode()
    parts = []
    for chunk in request.content.split(b"--" + boundary)[1:-1]:
        head, _, value = chunk[2:-2].partition(b"\r\n\r\n")
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        parts.append((name, value))
    return parts


def test_upload_posts_fields_then_the_file_to_the_presigned_url(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "customers.csv"
    source.write_bytes(b"id,name\n1,Ann\n")
    server.on("POST", "/files", grant())
    server.on("POST", S3, httpx.Response(204))
    assert client.upload_file(source) == FILE1
    create, upload = server.requests
    assert json.loads(create.content) == {"filename": "customers.csv"}
    assert create.headers["Authorization"] == "Bearer tok"
    assert str(upload.url) == S3
    assert "Authorization" not in upload.headers  # the presigned POST carries its own auth
    assert multipart_parts(upload) == [
        ("key", f"uploads/u/{FILE1}/a.csv".encode()),
        ("policy", b"cG9s"),
        ("x-sig", b"s"),
        ("file", b"id,name\n1,Ann\n"),  # S3 requires the file to be the last field
    ]


def test_upload_can_rename_the_file(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "data.bin"
    source.write_text("a\n1\n")
    server.on("POST", "/files", grant())
    server.on("POST", S3, httpx.Response(201, text="<PostResponse/>"))
    assert client.upload_file(source, filename="renamed.csv") == FILE1
    assert json.loads(server.requests[0].content) == {"filename": "renamed.csv"}
    assert b'filename="renamed.csv"' in server.requests[1].content


def test_upload_refused_by_storage_raises_upload_error(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "a.csv"
    source.write_text("a\n1\n")
    server.on("POST", "/files", grant())
    server.on("POST", S3, httpx.Response(400, text=S3_ERROR))
    with pytest.raises(UploadError) as caught:
        client.upload_file(source)
    exc = caught.value
    assert (exc.status, exc.error) == (400, "EntityTooLarge")
    assert str(exc) == "400 EntityTooLarge: Your proposed upload exceeds the maximum allowed size"
    assert exc.url == S3


def test_upload_error_without_xml(client: MatchqClient, server: FakeServer, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("a\n1\n")
    server.on("POST", "/files", grant())
    server.on("POST", S3, httpx.Response(503, text="Slow down"))
    with pytest.raises(UploadError, match=r"^503 Service Unavailable: Slow down$"):
        client.upload_file(source)


def test_upload_larger_than_max_bytes_is_refused_before_sending(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    source.write_bytes(b"x" * 101)
    server.on("POST", "/files", grant(max_bytes=100))
    with pytest.raises(PayloadTooLarge, match=r"big\.csv is 101 bytes; uploads are limited to 100"):
        client.upload_file(source)
    assert [r.url.host for r in server.requests] == ["api.test"]


def test_upload_of_a_missing_file_sends_nothing(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        client.upload_file(tmp_path / "nope.csv")
    assert server.requests == []


def test_upload_connection_error_names_the_url_without_its_query(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "a.csv"
    source.write_text("a\n1\n")
    server.on("POST", "/files", grant())
    server.on("POST", S3, httpx.ConnectError("refused"))
    with pytest.raises(ConnectionFailed, match=f"Cannot reach {S3}"):
        client.upload_file(source)


def test_submit_files_uploads_both_and_fills_the_config(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("name\nAnn\n")
    (tmp_path / "b.csv").write_text("full_name\nAnn\n")
    server.on("POST", "/files", grant(FILE1), grant(FILE2))
    server.on("POST", S3, httpx.Response(204))
    server.on("POST", "/jobs/submit", httpx.Response(200, json={"job_id": JOB_ID, "message": "m"}))
    config = {"mappings": [{"file1_col": "name", "file2_col": "full_name"}], "threshold": 80}
    job_id = client.submit_files(tmp_path / "a.csv", str(tmp_path / "b.csv"), config, priority=4)
    assert job_id == JOB_ID
    body = json.loads(server.sent("POST", "/jobs/submit")[0].content)
    assert body == {
        "name": "a.csv vs b.csv",
        "config": {**config, "file1": FILE1, "file2": FILE2},
        "priority": 4,
    }
    assert "file1" not in config  # the caller's dict is left alone
    assert [r.url.host for r in server.requests] == ["api.test", "s3.test"] * 2 + ["api.test"]


# --- download ----------------------------------------------------------------------------


def results_answer(*names: str) -> httpx.Response:
    files = [
        {"name": n, "size_bytes": 1, "download_url": f"{S3}/{n}?X-Amz-Signature=s", "expires_in": 9}
        for n in names
    ]
    return httpx.Response(200, json={"job_id": JOB_ID, "files": files})


def test_download_results_streams_each_file(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    server.on(
        "GET", f"/jobs/{JOB_ID}/results", results_answer("matched_results.json", "unmatched_1.json")
    )
    server.on("GET", f"{S3}/matched_results.json", httpx.Response(200, content=b"[1,2]" * 1000))
    server.on("GET", f"{S3}/unmatched_1.json", httpx.Response(200, content=b"[]"))
    target = tmp_path / "out" / "nested"
    paths = client.download_results(JOB_ID, target)
    assert paths == [target / "matched_results.json", target / "unmatched_1.json"]
    assert paths[0].read_bytes() == b"[1,2]" * 1000
    assert paths[1].read_bytes() == b"[]"
    assert sorted(p.name for p in target.iterdir()) == ["matched_results.json", "unmatched_1.json"]
    downloads = [r for r in server.requests if r.url.host == "s3.test"]
    assert len(downloads) == 2
    assert all("Authorization" not in r.headers for r in downloads)
    assert downloads[0].url.params["X-Amz-Signature"] == "s"


def test_download_error_leaves_no_file(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    server.on("GET", f"/jobs/{JOB_ID}/results", results_answer("matched_results.json"))
    denied = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    server.on("GET", f"{S3}/matched_results.json", httpx.Response(403, text=denied))
    with pytest.raises(DownloadError, match=r"^403 AccessDenied: Request has expired$") as caught:
        client.download_results(JOB_ID, tmp_path)
    assert "Signature" not in (caught.value.url or "")
    assert list(tmp_path.iterdir()) == []


def test_download_is_retried_on_storage_5xx(
    client: MatchqClient, server: FakeServer, tmp_path: Path, sleeps: list[float]
) -> None:
    server.on("GET", f"/jobs/{JOB_ID}/results", results_answer("matched_results.json"))
    server.on(
        "GET",
        f"{S3}/matched_results.json",
        httpx.Response(503, text="<Error><Code>SlowDown</Code></Error>"),
        httpx.Response(200, content=b"[]"),
    )
    (path,) = client.download_results(JOB_ID, tmp_path)
    assert path.read_bytes() == b"[]" and len(sleeps) == 1


def test_download_keeps_result_files_inside_the_directory(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    server.on("GET", f"/jobs/{JOB_ID}/results", results_answer("../../evil.json"))
    server.on("GET", f"{S3}/../../evil.json", httpx.Response(200, content=b"x"))
    server.on("GET", f"{S3}/evil.json", httpx.Response(200, content=b"x"))
    (path,) = client.download_results(JOB_ID, tmp_path / "d")
    assert path == tmp_path / "d" / "evil.json"
    server.on("GET", f"/jobs/{JOB_ID}/results", results_answer(".."))
    with pytest.raises(DownloadError, match="refusing"):
        client.download_results(JOB_ID, tmp_path / "d")


# --- wait --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def waiting_client(server: FakeServer, clock: FakeClock) -> MatchqClient:
    return MatchqClient(
        BASE, "t", transport=httpx.MockTransport(server), sleep=clock.sleep, clock=clock
    )


def test_wait_reports_progress_and_returns_the_finished_job(server: FakeServer) -> None:
    server.on(
        "GET",
        f"/jobs/{JOB_ID}",
        httpx.Response(200, json=job_json("pending", 0)),
        httpx.Response(200, json=job_json("pending", 0)),
        httpx.Response(200, json=job_json("pending", 0)),
        httpx.Response(200, json=job_json("running", 40)),
        httpx.Response(200, json=job_json("completed", 100)),
    )
    clock = FakeClock()
    seen: list[Job] = []
    job = waiting_client(server, clock).wait(
        JOB_ID, poll_interval=1.0, max_interval=2.0, on_progress=seen.append
    )
    assert job.status == "completed"
    assert [(j.status, j.progress) for j in seen] == [
        ("pending", 0),
        ("pending", 0),
        ("pending", 0),
        ("running", 40),
        ("completed", 100),
    ]
    # Back off while nothing moves (1, 1.5, then capped at 2), back to 1 when it moves.
    assert clock.sleeps == [1.0, 1.5, 2.0, 1.0]


def test_wait_times_out_with_the_specs_timeout_error(server: FakeServer) -> None:
    server.on("GET", f"/jobs/{JOB_ID}", httpx.Response(200, json=job_json("running", 45)))
    clock = FakeClock()
    with pytest.raises(TimeoutError) as caught:
        waiting_client(server, clock).wait(JOB_ID, timeout=5, poll_interval=2.0, max_interval=2.0)
    exc = caught.value
    assert isinstance(exc, JobTimeout)
    assert str(exc).startswith(f"Job {JOB_ID} did not complete within 5 seconds")
    assert "running, 45%" in str(exc)
    assert exc.job is not None and exc.job.status == "running"
    assert clock.sleeps == [2.0, 2.0, 1.0]  # never sleeps past the deadline
    assert len(server.requests) == 4  # one last look at the deadline


def test_wait_for_job_completion_is_the_spec_alias(server: FakeServer) -> None:
    server.on("GET", f"/jobs/{JOB_ID}", httpx.Response(200, json=job_json("failed", 10)))
    job = waiting_client(server, FakeClock()).wait_for_job_completion(JOB_ID)
    assert job["status"] == "failed" and job.finished and not job.succeeded


def test_wait_propagates_api_errors(server: FakeServer) -> None:
    server.on("GET", f"/jobs/{JOB_ID}", httpx.Response(403, json=error_body("Forbidden", "no")))
    with pytest.raises(Forbidden):
        waiting_client(server, FakeClock()).wait(JOB_ID)


def test_the_package_imports_nothing_of_the_server() -> None:
    package = Path(matchq_client.__file__).parent
    source = "\n".join(p.read_text() for p in package.rglob("*.py"))
    assert "_sync" in source  # the subpackages are read too
    assert "from matchq " not in source and "import matchq\n" not in source
    assert "matchq_local" not in source and "from matchq." not in source
