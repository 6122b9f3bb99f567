"""The SDK's output options, job summaries and file descriptions (sync and async clients)
against httpx.MockTransport, and the models parsed with and without the new fields."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

import matchq_client
from matchq_client import (
    AsyncMatchqClient,
    Conflict,
    DownloadError,
    FileFormat,
    FileInfo,
    Forbidden,
    HistogramBin,
    Job,
    JobSummary,
    JobSummaryCounts,
    MatchqClient,
    MatchqError,
    NotFound,
)
from matchq_client._core import next_poll_interval
from tests.unit.cli_fakes import BASE, JOB_ID, S3, FakeApi

FILE1 = "file_11111111-1111-4111-8111-111111111111"
FILE2 = "file_22222222-2222-4222-8222-222222222222"
# The scripted fake of the API and S3 the CLI tests use, under the SDK here.
FakeServer = FakeApi


def error(status: int, error_name: str, details: str) -> httpx.Response:
    body = {"error": error_name, "details": details, "timestamp": "2025-01-27T00:00:00Z"}
    return httpx.Response(status, json=body)


HISTOGRAM = [{"from": 5 * i, "to": 5 * i + 5, "count": i * 3} for i in range(20)]
SUMMARY = {
    "rows1": 1000,
    "rows2": 950,
    "pairs": 812,
    "matched_rows1": 812,
    "matched_rows2": 790,
    "unmatched1": 188,
    "unmatched2": 160,
    "threshold": 80,
    "match_mode": "best",
    "score_histogram": HISTOGRAM,
    "suggested_threshold": 83.5,
    "sample_rows": 1000,
    "files": {
        "file1": {"format": "csv", "encoding": "utf-8", "delimiter": "\t"},
        "file2": {"format": "xlsx", "encoding": None, "delimiter": None},
    },
    "timings": {"read": 0.25, "match": 1.5, "write": 0.125},
}
COUNTS = {k: SUMMARY[k] for k in ("rows1", "rows2", "pairs", "unmatched1", "unmatched2")}
FILE_INFO = {
    "file_id": FILE1,
    "filename": "crm.csv",
    "size_bytes": 2048,
    "format": "csv",
    "encoding": "utf-8",
    "delimiter": ";",
    "columns": ["name", "email"],
    "sample_rows": [{"name": "Ann", "email": "ann@example.com"}, {"name": "Bob", "email": None}],
}


def results_answer(*names: str) -> httpx.Response:
    files = [
        {"name": n, "size_bytes": 9, "download_url": f"{S3}/{n}?X-Amz-Signature=s", "expires_in": 9}
        for n in names
    ]
    return httpx.Response(200, json={"job_id": JOB_ID, "files": files})


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
        rng=random.Random(1),
    )


# --- models ------------------------------------------------------------------------------


def test_job_without_the_new_fields_has_no_summary_and_no_queue_position() -> None:
    job = Job.from_dict({"id": "job_x", "status": "running"})
    assert job.summary is None and job.queue_position is None


def test_job_parses_summary_and_queue_position() -> None:
    pending = Job.from_dict({"id": "j", "status": "pending", "queue_position": 3, "summary": None})
    assert (pending.queue_position, pending.summary) == (3, None)
    done = Job.from_dict(
        {"id": "j", "status": "completed", "queue_position": None, "summary": SUMMARY}
    )
    assert done.queue_position is None
    assert done.summary == JobSummaryCounts(1000, 950, 812, 188, 160, 83.5)
    assert done.summary == JobSummary.from_dict(SUMMARY).counts
    unsure = Job.from_dict({"id": "j", "status": "completed", "summary": {**COUNTS}})
    assert unsure.summary is not None and unsure.summary.suggested_threshold is None
    assert hash(done) == hash(Job.from_dict(done.to_dict()))


@pytest.mark.parametrize(
    "fields",
    [
        {"summary": "soon", "queue_position": "first"},
        {"summary": [1, 2], "queue_position": True},
        {"summary": {"pairs": "many", "suggested_threshold": "NaN"}, "queue_position": 1.0},
    ],
)
def test_odd_values_of_the_new_fields_do_not_break_parsing(fields: dict[str, Any]) -> None:
    job = Job.from_dict({"id": "j", "status": "pending", **fields})
    if isinstance(fields["summary"], dict):
        assert job.summary == JobSummaryCounts()
        assert job.queue_position == 1
    else:
        assert job.summary is None and job.queue_position is None


def test_job_summary_parses_every_field() -> None:
    summary = JobSummary.from_dict(SUMMARY)
    assert (summary.rows1, summary.rows2, summary.pairs) == (1000, 950, 812)
    assert (summary.matched_rows1, summary.matched_rows2) == (812, 790)
    assert (summary.unmatched1, summary.unmatched2) == (188, 160)
    assert (summary.threshold, summary.match_mode, summary.suggested_threshold) == (
        80.0,
        "best",
        83.5,
    )
    assert summary.sample_rows == 1000
    assert len(summary.score_histogram) == 20
    assert summary.score_histogram[0] == HistogramBin(0.0, 5.0, 0)
    assert summary.score_histogram[-1] == HistogramBin(95.0, 100.0, 57)
    assert summary.files == {
        "file1": FileFormat("csv", "utf-8", "\t"),
        "file2": FileFormat("xlsx", None, None),
    }
    assert summary.timings == {"read": 0.25, "match": 1.5, "write": 0.125}
    assert summary.to_dict() == SUMMARY


def test_job_summary_tolerates_missing_and_odd_fields() -> None:
    summary = JobSummary.from_dict(
        {
            "pairs": 3,
            "score_histogram": [{"from": 0, "to": 5, "count": 1}, "junk"],
            "files": {"file1": "csv"},
            "timings": {"read": "fast", "match": 2},
            "extra": True,
        }
    )
    assert summary.pairs == 3 and summary.rows1 == 0
    assert summary.threshold is None and summary.suggested_threshold is None
    assert summary.sample_rows is None
    assert summary.score_histogram == (HistogramBin(0.0, 5.0, 1),)
    assert summary.files == {}
    assert summary.timings == {"match": 2.0}
    assert summary.raw["extra"] is True
    assert JobSummary.from_dict({}) == JobSummary()


def test_file_info_parses_every_field() -> None:
    info = FileInfo.from_dict(FILE_INFO)
    assert (info.file_id, info.filename, info.size_bytes) == (FILE1, "crm.csv", 2048)
    assert (info.format, info.encoding, info.delimiter) == ("csv", "utf-8", ";")
    assert info.columns == ("name", "email")
    assert info.sample_rows[1] == {"name": "Bob", "email": None}
    assert info.to_dict() == FILE_INFO
    bare = FileInfo.from_dict({"file_id": FILE2, "columns": "name", "sample_rows": {}})
    assert (bare.columns, bare.sample_rows, bare.delimiter) == ((), (), None)


def test_the_new_models_are_exported() -> None:
    for name in ("FileInfo", "FileFormat", "HistogramBin", "JobSummary", "JobSummaryCounts"):
        assert name in matchq_client.__all__
        assert getattr(matchq_client, name).__module__ == "matchq_client.models"
    assert matchq_client.OUTPUT_FORMATS == ("json", "csv", "xlsx")


# --- submit with output options ----------------------------------------------------------


def submitted(server: FakeServer) -> tuple[dict[str, Any], httpx.Request]:
    (request,) = [r for r in server.requests if r.url.path.endswith("/jobs/submit")]
    return json.loads(request.content), request


def test_submit_job_sets_the_output_options(client: MatchqClient, server: FakeServer) -> None:
    server.on("POST", "/jobs/submit", httpx.Response(200, json={"job_id": JOB_ID}))
    config = {"file1": FILE1, "file2": FILE2, "mappings": [], "output_format": "json"}
    job_id = client.submit_job(
        "n",
        config,
        3,
        "my-key",
        output_format="csv",
        output_cols1=("name", "email"),
        output_cols2=["full_name"],
        generate_unmatched=False,
    )
    assert job_id == JOB_ID
    body, request = submitted(server)
    assert body["config"] == {
        **config,
        "output_format": "csv",
        "output_cols1": ["name", "email"],
        "output_cols2": ["full_name"],
        "generate_unmatched": False,
    }
    assert request.headers["Idempotency-Key"] == "my-key"
    assert config["output_format"] == "json"  # the caller's dict is left alone


def test_submit_job_leaves_options_not_given_to_the_config(
    client: MatchqClient, server: FakeServer
) -> None:
    server.on("POST", "/jobs/submit", httpx.Response(200, json={"job_id": JOB_ID}))
    config = {"file1": FILE1, "file2": FILE2, "generate_unmatched": False}
    client.submit_job("n", config)
    assert submitted(server)[0]["config"] == config


def test_output_columns_must_be_a_sequence_of_names(client: MatchqClient) -> None:
    with pytest.raises(TypeError, match="output_cols1"):
        client.submit_job("n", {}, output_cols1="name")


def test_submit_files_passes_the_options_and_the_idempotency_key(
    client: MatchqClient, server: FakeServer, tmp_path: Path
) -> None:
    upload = {"url": S3, "fields": {"key": "k"}}
    server.on(
        "POST",
        "/files",
        httpx.Response(201, json={"file_id": FILE1, "upload": upload}),
        httpx.Response(201, json={"file_id": FILE2, "upload": upload}),
    )
    server.on("POST", S3, httpx.Response(204))
    server.on("POST", "/jobs/submit", httpx.Response(200, json={"job_id": JOB_ID}))
    (tmp_path / "a.csv").write_text("name\nAnn\n")
    (tmp_path / "b.csv").write_text("full_name\nAnn\n")
    client.submit_files(
        tmp_path / "a.csv",
        tmp_path / "b.csv",
        {"mappings": []},
        output_format="xlsx",
        generate_unmatched=True,
        idempotency_key="nightly",
    )
    body, request = submitted(server)
    assert body["config"] == {
        "mappings": [],
        "file1": FILE1,
        "file2": FILE2,
        "output_format": "xlsx",
        "generate_unmatched": True,
    }
    assert request.headers["Idempotency-Key"] == "nightly"


def test_a_new_queue_position_counts_as_progress_for_polling() -> None:
    first = Job.from_dict({"id": "j", "status": "pending", "queue_position": 3})
    same = Job.from_dict({"id": "j", "status": "pending", "queue_position": 3})
    moved = Job.from_dict({"id": "j", "status": "pending", "queue_position": 2})
    assert next_poll_interval(first, same, 1.0, 1.0, 10.0) == 1.5
    assert next_poll_interval(first, moved, 4.0, 1.0, 10.0) == 1.0


# --- get_file ----------------------------------------------------------------------------


def test_get_file_reads_the_description(client: MatchqClient, server: FakeServer) -> None:
    server.on("GET", f"/files/{FILE1}", httpx.Response(200, json=FILE_INFO))
    assert client.get_file(FILE1) == FileInfo.from_dict(FILE_INFO)
    (request,) = server.requests
    assert request.headers["Authorization"] == "Bearer tok"
    assert str(request.url) == f"{BASE}/files/{FILE1}"


@pytest.mark.parametrize(
    ("status", "cls", "details"),
    [
        (404, NotFound, f"File not found: {FILE1}"),
        (403, Forbidden, "You do not have access to this file"),
    ],
)
def test_get_file_errors_are_typed(
    client: MatchqClient, server: FakeServer, status: int, cls: type[MatchqError], details: str
) -> None:
    server.on("GET", f"/files/{FILE1}", error(status, "x", details))
    with pytest.raises(cls) as caught:
        client.get_file(FILE1)
    assert caught.value.status == status and caught.value.details == details


def test_get_file_quotes_the_id_and_refuses_empty_ones(
    client: MatchqClient, server: FakeServer
) -> None:
    with pytest.raises(NotFound):
        client.get_file("a/../b")
    assert server.requests[0].url.raw_path == b"/api/v1/files/a%2F..%2Fb"
    for bad in ("", " ", "..", "."):
        with pytest.raises(ValueError, match="invalid file id"):
            client.get_file(bad)


def test_get_file_refuses_an_answer_without_file_id(
    client: MatchqClient, server: FakeServer
) -> None:
    server.on("GET", f"/files/{FILE1}", httpx.Response(200, json={"filename": "x"}))
    with pytest.raises(MatchqError, match="expected a file object"):
        client.get_file(FILE1)


# --- summary -----------------------------------------------------------------------------


def test_summary_downloads_and_parses_summary_json(
    client: MatchqClient, server: FakeServer
) -> None:
    names = ("matched_results.csv", "unmatched_1.csv", "unmatched_2.csv", "summary.json")
    server.on("GET", f"/jobs/{JOB_ID}/results", results_answer(*names))
    server.on("GET", f"{S3}/summary.json", httpx.Response(200, json=SUMMARY))
    assert client.summary(JOB_ID) == JobSummary.from_dict(SUMMARY)
    download = server.requests[-1]
    assert download.url.host == "s3.test" and "Authorization" not in download.headers
    assert download.url.params["X-Amz-Signature"] == "s"
    assert len(server.requests) == 2  # nothing else is downloaded


def test_summary_of_a_job_not_completed_is_the_apis_conflict(
    client: MatchqClient, server: FakeServer
) -> None:
    details = f"Job {JOB_ID} is running; results exist only for completed jobs"
    server.on("GET", f"/jobs/{JOB_ID}/results", error(409, "Conflict", details))
    with pytest.raises(Conflict, match=f"^409 Conflict: {details}$"):
        client.summary(JOB_ID)


def test_summary_of_a_job_without_summary_json_says_so(
    client: MatchqClient, server: FakeServer
) -> None:
    server.on("GET", f"/jobs/{JOB_ID}/results", results_answer("matched_results.json"))
    with pytest.raises(NotFound) as caught:
        client.summary(JOB_ID)
    message = str(caught.value)
    assert message.startswith(f"No Summary: job {JOB_ID} has no summary.json")
    assert "matched_results.json" in message
    assert caught.value.status is None


def test_summary_download_errors(
    client: MatchqClient, server: FakeServer, sleeps: list[float]
) -> None:
    server.on("GET", f"/jobs/{JOB_ID}/results", results_answer("summary.json"))
    denied = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    server.on("GET", f"{S3}/summary.json", httpx.Response(403, text=denied))
    with pytest.raises(DownloadError, match=r"^403 AccessDenied: Request has expired$"):
        client.summary(JOB_ID)
    server.on("GET", f"{S3}/summary.json", httpx.Response(200, json=[1, 2]))
    with pytest.raises(MatchqError, match="expected a JSON object"):
        client.summary(JOB_ID)
    server.on(
        "GET",
        f"{S3}/summary.json",
        httpx.Response(503, text="<Error><Code>SlowDown</Code></Error>"),
        httpx.Response(200, json=SUMMARY),
    )
    assert client.summary(JOB_ID).pairs == 812
    assert len(sleeps) == 1  # the storage 503 was retried


# --- the async client --------------------------------------------------------------------


def test_the_async_client_has_the_same_new_methods(server: FakeServer, tmp_path: Path) -> None:
    upload = {"url": S3, "fields": {"key": "k"}}
    server.on(
        "POST",
        "/files",
        httpx.Response(201, json={"file_id": FILE1, "upload": upload}),
        httpx.Response(201, json={"file_id": FILE2, "upload": upload}),
    )
    server.on("POST", S3, httpx.Response(204))
    server.on("POST", "/jobs/submit", httpx.Response(200, json={"job_id": JOB_ID}))
    server.on("GET", f"/files/{FILE1}", httpx.Response(200, json=FILE_INFO))
    server.on("GET", f"/files/{FILE2}", error(404, "Not Found", f"File not found: {FILE2}"))
    server.on("GET", f"/jobs/{JOB_ID}/results", results_answer("summary.json"))
    server.on("GET", f"{S3}/summary.json", httpx.Response(200, json=SUMMARY))
    (tmp_path / "a.csv").write_text("name\nAnn\n")
    (tmp_path / "b.csv").write_text("full_name\nAnn\n")

    async def sleep(seconds: float) -> None:
        pass

    async def scenario() -> None:
        async with AsyncMatchqClient(
            BASE, "tok", transport=httpx.MockTransport(server), sleep=sleep
        ) as client:
            job_id = await client.submit_files(
                tmp_path / "a.csv",
                tmp_path / "b.csv",
                {"mappings": []},
                output_format="csv",
                output_cols1=["name"],
                output_cols2=["full_name"],
                generate_unmatched=False,
                idempotency_key="k1",
            )
            assert job_id == JOB_ID
            assert await client.get_file(FILE1) == FileInfo.from_dict(FILE_INFO)
            with pytest.raises(NotFound, match=f"File not found: {FILE2}"):
                await client.get_file(FILE2)
            assert (await client.summary(JOB_ID)).suggested_threshold == 83.5

    asyncio.run(scenario())
    body, request = submitted(server)
    assert body["config"] == {
        "mappings": [],
        "file1": FILE1,
        "file2": FILE2,
        "output_format": "csv",
        "output_cols1": ["name"],
        "output_cols2": ["full_name"],
        "generate_unmatched": False,
    }
    assert request.headers["Idempotency-Key"] == "k1"
