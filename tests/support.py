"""Helpers for tests: the handlers loaded from `functions/`, the `events/` files, moto data."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"


@dataclass
class FakeContext:
    """Enough of a LambdaContext for powertools and the worker."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "req-1"
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


_loaded: dict[str, ModuleType] = {}


def load_function(folder: str) -> ModuleType:
    """Import functions/<folder>/app.py as Lambda does, under a unique module name."""
    if folder not in _loaded:
        path = ROOT / "functions" / folder / "app.py"
        spec = importlib.util.spec_from_file_location(f"fn_{folder}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _loaded[folder] = module
    return _loaded[folder]


def load_event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / f"{name}.json").read_text())


def api_event(
    name: str,
    *,
    user: str = "alice",
    admin: bool = False,
    job_id: str | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """An `events/<name>.json` API event for `user`, with the job id, body or query replaced."""
    event = copy.deepcopy(load_event(name))
    event["requestContext"]["authorizer"] = {
        "principalId": user,
        "user_id": user,
        "is_admin": "true" if admin else "false",
    }
    if job_id is not None:
        old = event["pathParameters"]["job_id"]
        event["pathParameters"]["job_id"] = job_id
        event["path"] = event["path"].replace(old, job_id)
    if body is not None:
        event["body"] = json.dumps(body)
    if raw_body is not None:
        event["body"] = raw_body
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return event


def call(folder: str, event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """Invoke an API function; returns status, parsed JSON body and headers."""
    response = load_function(folder).lambda_handler(event, FakeContext(function_name=folder))
    body = json.loads(response["body"]) if response.get("body") else None
    headers = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(name, ",".join(values))
    return response["statusCode"], body, headers


@dataclass
class AwsStack:
    """The template's resources on moto and the environment the functions get."""

    env: dict[str, str]
    session: Any

    @property
    def bucket(self) -> str:
        return self.env["MATCHQ_BUCKET_NAME"]

    @property
    def table_name(self) -> str:
        return self.env["MATCHQ_TABLE_NAME"]

    def queue_url(self, priority: int) -> str:
        name = {1: "LOW", 2: "NORMAL", 3: "HIGH", 4: "URGENT"}[priority]
        return self.env[f"MATCHQ_QUEUE_URL_{name}"]

    def upload(self, user: str, name: str, content: str | bytes) -> str:
        """Store a file as a finished upload of `user`; returns its file id."""
        from matchq.dal.storage import upload_prefix

        file_id = f"file_{uuid.uuid4()}"
        data = content.encode() if isinstance(content, str) else content
        self.session.client("s3").put_object(
            Bucket=self.bucket, Key=upload_prefix(user, file_id) + name, Body=data
        )
        return file_id

    def receive(self, priority: int) -> list[dict[str, Any]]:
        sqs = self.session.client("sqs")
        result = sqs.receive_message(
            QueueUrl=self.queue_url(priority),
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
        )
        return list(result.get("Messages", []))

    def keys(self, prefix: str) -> list[str]:
        result = self.session.client("s3").list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for o in result.get("Contents", [])]


CSV1 = (
    "customer_name,email,phone\n"
    "Jonathan Smith,jon@example.com,555-0100\n"
    "Maria Garcia,maria@example.com,555-0101\n"
    "Wei Zhang,wei@example.com,555-0102\n"
)
CSV2 = (
    "full_name,address,city\n"
    "Jonathon Smith,1 Main St,Springfield\n"
    "Zhang Wei,2 Oak Ave,Shelbyville\n"
    "Peter Parker,20 Ingram St,New York\n"
)


def match_config(file1: str, file2: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "file1": file1,
        "file2": file2,
        "mappings": [
            {
                "file1_col": "customer_name",
                "file2_col": "full_name",
                "match_type": "fuzzy",
                "use_normalization": True,
                "weight": 1.0,
            }
        ],
        "output_cols1": ["customer_name", "email"],
        "output_cols2": ["full_name", "city"],
        "threshold": 80,
        "generate_unmatched": True,
    }
    config.update(overrides)
    return config


def submit(aws: AwsStack, user: str = "alice", *, priority: int = 2, **config: Any) -> str:
    """Upload the two sample files for `user` and submit a job through the handler."""
    f1 = aws.upload(user, "customers.csv", CSV1)
    f2 = aws.upload(user, "people.csv", CSV2)
    status, body, _ = call(
        "submit_job",
        api_event(
            "submit_job",
            user=user,
            body={
                "name": "test job",
                "config": match_config(f1, f2, **config),
                "priority": priority,
            },
        ),
    )
    assert status == 200, body
    return str(body["job_id"])


def error_body_ok(body: Any, reason: str) -> bool:
    """The contract's error body: reason phrase, details, ISO timestamp ending in Z."""
    return (
        isinstance(body, dict)
        and set(body) == {"error", "details", "timestamp"}
        and body["error"] == reason
        and isinstance(body["details"], str)
        and body["details"] != ""
        and len(body["timestamp"]) == 20
        and body["timestamp"].endswith("Z")
    )


FAKE_SUMMARY = {"rows1": 0, "rows2": 0, "pairs": 0, "unmatched1": 0, "unmatched2": 0,
                "suggested_threshold": None}  # fmt: skip


def comparable(files: dict[str, bytes]) -> dict[str, Any]:
    """Result files by name, for comparing two runs: summary.json parsed, without its
    timings (the only part that differs between runs of the same job)."""
    out: dict[str, Any] = dict(files)
    if "summary.json" in out:
        summary = json.loads(out["summary.json"])
        summary.pop("timings")
        out["summary.json"] = summary
    return out


@dataclass
class FakeSummary:
    files: list[str]
    summary: dict[str, Any] = field(default_factory=lambda: dict(FAKE_SUMMARY))


def fake_engine(config: Any, file1: Path, file2: Path, out_dir: Path, **kwargs: Any) -> FakeSummary:
    """Stands in for the matching engine where a test is about the job lifecycle only."""
    kwargs["progress"](50, "Halfway")
    if kwargs["should_cancel"]():
        from matchq.errors import JobCancelled

        raise JobCancelled
    names = ["matched_results.json", "unmatched_1.json", "unmatched_2.json"]
    for name in names:
        (out_dir / name).write_text("[]")
    (out_dir / "summary.json").write_text(json.dumps(FAKE_SUMMARY))
    return FakeSummary(files=[*names, "summary.json"])


def runner(engine: Any = fake_engine) -> Any:
    """A JobRunner wired to the current (moto) environment."""
    from matchq.dal.jobs import JobRepository
    from matchq.dal.queues import JobQueues
    from matchq.dal.storage import Storage
    from matchq.services.worker import JobRunner
    from matchq.settings import worker_settings

    settings = worker_settings()
    return JobRunner(
        JobRepository(settings.table_name),
        Storage(settings.bucket_name),
        settings,
        engine=engine,
        queues=JobQueues(settings.queue_urls),
    )


def job_record(aws: AwsStack, job_id: str) -> Any:
    from matchq.dal.jobs import JobRepository

    return JobRepository(aws.table_name).get(job_id)


def message(job_id: str, priority: int = 2) -> Any:
    from matchq.messages import JobMessage

    return JobMessage(job_id=job_id, priority=priority)


def complete(aws: AwsStack, job_id: str, engine: Any = fake_engine) -> Any:
    """Run a pending job to its end with `engine`; returns the runner's Outcome."""
    return runner(engine).handle(message(job_id))
