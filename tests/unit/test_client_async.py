"""The asyncio SDK (`matchq_client.AsyncMatchqClient`) against httpx.MockTransport: no server."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

from matchq_client import (
    AsyncMatchqClient,
    Conflict,
    ConnectionFailed,
    DownloadError,
    Job,
    JobTimeout,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ResultFile,
    ServerError,
    UploadError,
)

BASE = "http://api.test/api/v1"
S3 = "http://s3.test/bucket"
JOB_ID = "job_12345678-1234-4234-8234-123456789abc"
FILE1 = "file_11111111-1111-4111-8111-111111111111"
FILE2 = "file_22222222-2222-4222-8222-222222222222"

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def run[T](coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class FakeServer:
    """Answers "METHOD host/path" from a script (its last answer repeats); records requests."""

    def __init__(self) -> None:
        self.script: dict[str, list[Answer]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Answer) -> None:
        url = httpx.URL(path if path.startswith("http") else BASE + path)
        self.script[f"{method} {url.host}{url.path}"] = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.script.get(f"{request.method} {request.url.host}{request.url.path}")
        if not queue:
            return httpx.Response(404, json={"error": "Not Found", "details": "no fake"})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def error_body(error: str, details: str) -> dict[str, str]:
    return {"error": error, "details": details, "timestamp": "2025-01-27T00:00:00Z"}


def job_json(status: str = "running", progress: int = 45, **extra: Any) -> dict[str, Any]:
    return {
        "id": JOB_ID,
        "name": "n",
        "status": status,
        "priority": 2,
        "created_at": "2025-01-27T10:00:00Z",
        "started_at": None,
        "completed_at": None,
        "progress": progress,
        "message": f"{status} {progress}",
        "error_message": None,
        "result_files": [],
        "user_id": "u",
        "duration": None,
        "estimated_remaining": None,
        **extra,
    }


def grant(file_id: str, max_bytes: int = 1000) -> httpx.Response:
    upload = {"url": S3, "fields": {"key": f"uploads/u/{file_id}/x.csv", "policy": "p"}}
    body = {"file_id": file_id, "upload": upload, "max_bytes": max_bytes, "expires_in": 900}
    return httpx.Response(201, json=body)


class Sleeper:
    """An async sleep that records and advances a fake clock instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


@pytest.fixture
def make(server: FakeServer, sleeper: Sleeper) -> Callable[..., AsyncMatchqClient]:
    def factory(**kwargs: Any) -> AsyncMatchqClient:
        return AsyncMatchqClient(
            BASE,
            "tok",
            transport=httpx.MockTransport(server),
            sleep=sleeper,
            clock=sleeper.clock,
            rng=random.Random(3),
            **kwargs,
        )

    return factory


def test_every_job_endpoint(make: Callable[..., AsyncMatchqClient], server: FakeServer) -> None:
    ok = {"success": True, "message": "ok"}
    server.on("POST", "/jobs/submit", httpx.Response(200, json={"job_id": JOB_ID, "message": "m"}))
    server.on("GET", f"/jobs/{JOB_ID}", httpx.Response(200, json=job_json()))
    server.on("POST", f"/jobs/{JOB_ID}/cancel", httpx.Response(200, json=ok))
    server.on("DELETE", f"/jobs/{JOB_ID}", httpx.Response(200, json=ok))
    server.on("GET", "/jobs/stats", httpx.Response(200, json={"total_jobs": 1}))
    server.on("POST", "/jobs/cleanup", httpx.Response(200, json={"cleaned_jobs": 0}))
    files = [{"name": "m.json", "size_bytes": 2, "download_url": f"{S3}/m", "expires_in": 5}]
    server.on(
        "GET",
        f"/jobs/{JOB_ID}/results",
        httpx.Response(200, json={"job_id": JOB_ID, "files": files}),
    )

    async def scenario() -> None:
        async with make() as client:
            assert await client.submit_job("n", {"a": 1}, priority=4) == JOB_ID
            assert (await client.get_job(JOB_ID)).status == "running"
            assert await client.cancel_job(JOB_ID) is True
            assert await client.delete_job(JOB_ID) is True
            assert await client.cancel(JOB_ID) == ok
            assert await client.delete(JOB_ID) == ok
            assert await client.stats() == {"total_jobs": 1}
            assert await client.get_queue_stats() == {"total_jobs": 1}
            assert await client.cleanup(max_age_hours=2) == {"cleaned_jobs": 0}
            assert await client.results(JOB_ID) == [ResultFile("m.json", 2, f"{S3}/m", 5)]
        assert client._http.is_closed

    run(scenario())
    submit = server.requests[0]
    assert json.loads(submit.content) == {"name": "n", "config": {"a": 1}, "priority": 4}
    assert all(r.headers["Authorization"] == "Bearer tok" for r in server.requests)
    assert server.requests[8].url.params["max_age_hours"] == "2"


def test_list_and_iter_jobs(make: Callable[..., AsyncMatchqClient], server: FakeServer) -> None:
    pages = {
        None: ([job_json(id="job_1")], "t1"),
        "t1": ([job_json(id="job_2"), job_json(id="job_3")], None),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        jobs, token = pages[request.url.params.get("next_token")]
        return httpx.Response(200, json=jobs, headers={"X-Next-Token": token} if token else {})

    server.on("GET", "/jobs/list", answer)

    async def scenario() -> tuple[list[str], str | None]:
        async with make() as client:
            page = await client.list_jobs(status="pending", limit=1)
            ids = [job.id async for job in client.iter_jobs(page_size=5)]
            return ids, page.next_token

    ids, token = run(scenario())
    assert token == "t1"
    assert ids == ["job_1", "job_2", "job_3"]
    assert dict(server.requests[0].url.params) == {"status": "pending", "limit": "1"}
    assert dict(server.requests[2].url.params) == {"limit": "5", "next_token": "t1"}


def test_errors_are_typed(make: Callable[..., AsyncMatchqClient], server: FakeServer) -> None:
    server.on(
        "GET",
        "/jobs/job_x",
        httpx.Response(404, json=error_body("Not Found", "Job not found: job_x")),
    )
    server.on(
        "POST", "/jobs/job_x/cancel", httpx.Response(409, json=error_body("Conflict", "done"))
    )

    async def scenario() -> None:
        async with make() as client:
            with pytest.raises(NotFound, match=r"^404 Not Found: Job not found: job_x$"):
                await client.get_job("job_x")
            with pytest.raises(Conflict):
                await client.cancel_job("job_x")

    run(scenario())


def test_retries_follow_the_same_policy(
    make: Callable[..., AsyncMatchqClient], server: FakeServer, sleeper: Sleeper
) -> None:
    server.on(
        "GET",
        "/jobs/stats",
        httpx.ConnectError("refused"),
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(200, json={"ok": True}),
    )
    server.on("POST", "/jobs/submit", httpx.Response(503))

    async def scenario() -> None:
        async with make() as client:
            assert await client.stats() == {"ok": True}
            with pytest.raises(ServerError):
                await client.submit_job("n", {})

    run(scenario())
    # the submit carries an Idempotency-Key, so it is retried too (3 retries)
    assert len(sleeper.sleeps) == 2 + 3
    assert 0 <= sleeper.sleeps[0] <= 0.5 and sleeper.sleeps[1] == 3.0
    assert [r.method for r in server.requests] == ["GET", "GET", "GET"] + ["POST"] * 4
    assert len({r.headers["Idempotency-Key"] for r in server.requests[3:]}) == 1


def test_rate_limit_beyond_max_backoff_is_raised(
    make: Callable[..., AsyncMatchqClient], server: FakeServer
) -> None:
    server.on("GET", "/jobs/stats", httpx.Response(429, headers={"Retry-After": "60"}))

    async def scenario() -> None:
        async with make(max_backoff=10) as client:
            with pytest.raises(RateLimited) as caught:
                await client.stats()
            assert caught.value.retry_after == 60

    run(scenario())
    assert len(server.requests) == 1


def test_connection_failure_after_retries(
    make: Callable[..., AsyncMatchqClient], server: FakeServer, sleeper: Sleeper
) -> None:
    server.on("GET", f"/jobs/{JOB_ID}", httpx.ConnectTimeout("slow"))

    async def scenario() -> None:
        async with make(retries=2) as client:
            with pytest.raises(ConnectionFailed, match=f"Cannot reach {BASE}/jobs/{JOB_ID}"):
                await client.get_job(JOB_ID)

    run(scenario())
    assert len(server.requests) == 3 and len(sleeper.sleeps) == 2


def test_wait_with_an_async_progress_callback(
    make: Callable[..., AsyncMatchqClient], server: FakeServer, sleeper: Sleeper
) -> None:
    server.on(
        "GET",
        f"/jobs/{JOB_ID}",
        httpx.Response(200, json=job_json("pending", 0)),
        httpx.Response(200, json=job_json("running", 50)),
        httpx.Response(200, json=job_json("completed", 100)),
    )
    seen: list[int] = []

    async def report(job: Job) -> None:
        seen.append(job.progress)

    async def scenario() -> Job:
        async with make() as client:
            return await client.wait(JOB_ID, poll_interval=0.5, on_progress=report)

    assert run(scenario()).status == "completed"
    assert seen == [0, 50, 100]
    assert sleeper.sleeps == [0.5, 0.5]


def test_wait_times_out(
    make: Callable[..., AsyncMatchqClient], server: FakeServer, sleeper: Sleeper
) -> None:
    server.on("GET", f"/jobs/{JOB_ID}", httpx.Response(200, json=job_json("pending", 0)))
    seen: list[Job] = []

    async def scenario() -> None:
        async with make() as client:
            await client.wait_for_job_completion(
                JOB_ID, timeout=10, poll_interval=2, max_interval=4, on_progress=seen.append
            )

    with pytest.raises(JobTimeout, match=f"Job {JOB_ID} did not complete within 10 seconds"):
        run(scenario())
    assert sleeper.sleeps == [2, 3.0, 4, 1.0]  # backoff 2, 3, capped 4, then up to the deadline
    assert sum(sleeper.sleeps) == 10 and len(seen) == 5


def test_upload_submit_files_and_download(
    make: Callable[..., AsyncMatchqClient], server: FakeServer, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("name\nAnn\n")
    (tmp_path / "b.csv").write_text("full_name\nAnn\n")
    uploaded: list[bytes] = []
    granted = iter([grant(FILE1), grant(FILE2)])

    def store(request: httpx.Request) -> httpx.Response:
        uploaded.append(request.content)
        return httpx.Response(204)

    server.on("POST", "/files", lambda _request: next(granted))
    server.on("POST", S3, store)
    server.on("POST", "/jobs/submit", httpx.Response(200, json={"job_id": JOB_ID, "message": "m"}))
    files = [{"name": "matched_results.json", "size_bytes": 2, "download_url": f"{S3}/r?sig=x"}]
    server.on(
        "GET",
        f"/jobs/{JOB_ID}/results",
        httpx.Response(200, json={"job_id": JOB_ID, "files": files}),
    )
    server.on("GET", f"{S3}/r", httpx.Response(200, content=b"[{}]"))

    async def scenario() -> list[Path]:
        async with make() as client:
            job_id = await client.submit_files(
                tmp_path / "a.csv", tmp_path / "b.csv", {"mappings": []}, name="pair"
            )
            assert job_id == JOB_ID
            return await client.download_results(JOB_ID, tmp_path / "out")

    (path,) = run(scenario())
    assert path == tmp_path / "out" / "matched_results.json"
    assert path.read_bytes() == b"[{}]"
    assert sorted(b"Ann\n" in body and b'name="file"' in body for body in uploaded) == [True, True]
    submit = next(r for r in server.requests if r.url.path.endswith("/jobs/submit"))
    config = json.loads(submit.content)["config"]
    assert {config["file1"], config["file2"]} == {FILE1, FILE2}
    assert json.loads(submit.content)["name"] == "pair"
    storage = [r for r in server.requests if r.url.host == "s3.test"]
    assert len(storage) == 3 and all("Authorization" not in r.headers for r in storage)


def test_upload_and_download_errors(
    make: Callable[..., AsyncMatchqClient], server: FakeServer, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("name\nAnn\n")
    (tmp_path / "big.csv").write_bytes(b"x" * 2000)
    xml = "<Error><Code>AccessDenied</Code><Message>Invalid according to Policy</Message></Error>"
    server.on("POST", "/files", grant(FILE1))
    server.on("POST", S3, httpx.Response(403, text=xml))
    files = [{"name": "m.json", "size_bytes": 2, "download_url": f"{S3}/m"}]
    server.on(
        "GET",
        f"/jobs/{JOB_ID}/results",
        httpx.Response(200, json={"job_id": JOB_ID, "files": files}),
    )
    server.on("GET", f"{S3}/m", httpx.Response(404, text="<Error><Code>NoSuchKey</Code></Error>"))

    async def scenario() -> None:
        async with make() as client:
            with pytest.raises(
                UploadError, match=r"^403 AccessDenied: Invalid according to Policy$"
            ):
                await client.upload_file(tmp_path / "a.csv")
            with pytest.raises(PayloadTooLarge):
                await client.upload_file(tmp_path / "big.csv")
            with pytest.raises(DownloadError, match=r"^404 NoSuchKey"):
                await client.download_results(JOB_ID, tmp_path / "out")

    run(scenario())
    assert list((tmp_path / "out").iterdir()) == []
    assert sum(r.url.host == "s3.test" and r.method == "POST" for r in server.requests) == 1


def test_batch_submission_runs_concurrently(
    make: Callable[..., AsyncMatchqClient], server: FakeServer
) -> None:
    counter = iter(range(100))

    def submit(request: httpx.Request) -> httpx.Response:
        name = json.loads(request.content)["name"]
        return httpx.Response(200, json={"job_id": f"job_{next(counter)}_{name}", "message": "m"})

    server.on("POST", "/jobs/submit", submit)

    async def scenario() -> list[str]:
        async with make() as client:
            calls: list[Awaitable[str]] = [
                client.submit_job(f"b{i}", {}, priority=2) for i in range(5)
            ]
            return list(await asyncio.gather(*calls))

    ids = run(scenario())
    assert len(ids) == 5 and [i.rsplit("_", 1)[1] for i in ids] == [f"b{i}" for i in range(5)]


def test_submit_files_uploads_both_files_at_once(server: FakeServer, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("name\nAnn\n")
    (tmp_path / "b.csv").write_text("full_name\nAnn\n")
    server.on("POST", "/files", grant(FILE1), grant(FILE2))
    server.on("POST", S3, httpx.Response(204))
    server.on("POST", "/jobs/submit", httpx.Response(200, json={"job_id": JOB_ID, "message": "m"}))

    async def network(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # an answer takes a moment, as over a network
        return server(request)

    async def scenario() -> str:
        async with AsyncMatchqClient(BASE, "tok", transport=httpx.MockTransport(network)) as api:
            closing = api.aclose
            job_id = await api.submit_files(tmp_path / "a.csv", tmp_path / "b.csv", {})
        await closing()  # the asyncio name of close(); closing twice is harmless
        return job_id

    assert run(scenario()) == JOB_ID
    hosts = [r.url.host for r in server.requests]
    assert hosts == ["api.test", "api.test", "s3.test", "s3.test", "api.test"]
    config = json.loads(server.requests[-1].content)["config"]
    assert (config["file1"], config["file2"]) == (FILE1, FILE2)
