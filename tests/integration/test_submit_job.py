"""POST /jobs/submit against moto: validation at the edge, files and columns, queueing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from matchq.api.schemas import PRIORITY_ERROR
from matchq.dal.queues import JobQueues
from tests.support import (
    CSV1,
    CSV2,
    AwsStack,
    api_event,
    call,
    error_body_ok,
    match_config,
    submit,
)

JOB_ID = re.compile(r"^job_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _submit(aws: AwsStack, body: Any = None, *, raw: str | None = None, user: str = "alice"):
    return call("submit_job", api_event("submit_job", user=user, body=body, raw_body=raw))


def _files(aws: AwsStack, user: str = "alice") -> tuple[str, str]:
    return aws.upload(user, "customers.csv", CSV1), aws.upload(user, "people.csv", CSV2)


def test_submit_queues_a_pending_job_on_its_priority_queue(aws: AwsStack) -> None:
    job_id = submit(aws, priority=2)
    assert JOB_ID.match(job_id)
    messages = aws.receive(2)
    assert [json.loads(m["Body"])["job_id"] for m in messages] == [job_id]
    status, job, _ = call("get_job", api_event("get_job", job_id=job_id))
    assert status == 200
    assert job["status"] == "pending" and job["priority"] == 2 and job["user_id"] == "alice"


def test_submit_answers_with_the_spec_body(aws: AwsStack) -> None:
    f1, f2 = _files(aws)
    status, body, _ = _submit(aws, {"name": "n", "config": match_config(f1, f2), "priority": 3})
    assert status == 200
    assert set(body) == {"job_id", "message"}
    assert body["message"] == "Job submitted successfully"


@pytest.mark.parametrize("priority", [4, 1])
def test_each_priority_has_its_own_queue(aws: AwsStack, priority: int) -> None:
    job_id = submit(aws, priority=priority)
    assert [json.loads(m["Body"])["job_id"] for m in aws.receive(priority)] == [job_id]
    assert aws.receive(2) == []


def test_priority_defaults_to_normal(aws: AwsStack) -> None:
    f1, f2 = _files(aws)
    status, _, _ = _submit(aws, {"name": "n", "config": match_config(f1, f2)})
    assert status == 200
    assert len(aws.receive(2)) == 1


@pytest.mark.parametrize("priority", [0, 5, -1, "high", True, 2.5, None])
def test_invalid_priority_is_a_400_with_the_spec_text(aws: AwsStack, priority: Any) -> None:
    f1, f2 = _files(aws)
    status, body, _ = _submit(
        aws, {"name": "n", "config": match_config(f1, f2), "priority": priority}
    )
    assert status == 400
    assert error_body_ok(body, "Bad Request")
    assert body["details"] == PRIORITY_ERROR


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mappings": []}, "config.mappings"),
        ({"threshold": 101}, "config.threshold"),
        ({"match_mode": "most"}, "config.match_mode"),
        ({"treshold": 80}, "config.treshold"),
        ({"file1": "../../etc/passwd"}, "config.file1"),
    ],
)
def test_config_errors_name_the_field(aws: AwsStack, change: dict[str, Any], field: str) -> None:
    f1, f2 = _files(aws)
    config = {**match_config(f1, f2), **change}
    status, body, _ = _submit(aws, {"name": "n", "config": config})
    assert status == 400
    assert error_body_ok(body, "Bad Request")
    assert field in body["details"]


def test_mapping_errors_name_the_mapping(aws: AwsStack) -> None:
    f1, f2 = _files(aws)
    config = match_config(f1, f2)
    config["mappings"][0]["weight"] = 0
    status, body, _ = _submit(aws, {"name": "n", "config": config})
    assert status == 400
    assert "config.mappings[0].weight" in body["details"]


def test_scorer_on_an_exact_mapping_is_rejected(aws: AwsStack) -> None:
    f1, f2 = _files(aws)
    config = match_config(f1, f2)
    config["mappings"][0].update(match_type="exact", scorer="ratio")
    status, body, _ = _submit(aws, {"name": "n", "config": config})
    assert status == 400
    assert "config.mappings[0]" in body["details"] and "fuzzy" in body["details"]


def test_missing_name_and_config_are_named(aws: AwsStack) -> None:
    status, body, _ = _submit(aws, {"priority": 2})
    assert status == 400
    assert "name: is required" in body["details"] and "config: is required" in body["details"]


def test_body_that_is_not_json_is_a_400(aws: AwsStack) -> None:
    status, body, _ = _submit(aws, raw="{not json")
    assert status == 400
    assert "not valid JSON" in body["details"]


def test_oversized_body_is_a_413(aws: AwsStack) -> None:
    status, body, _ = _submit(aws, raw=json.dumps({"name": "x" * 300_000}))
    assert status == 413
    assert error_body_ok(body, "Content Too Large")  # RFC 9110's name for 413


def test_unknown_mapping_column_names_the_column_and_file(aws: AwsStack) -> None:
    f1, f2 = _files(aws)
    config = match_config(f1, f2)
    config["mappings"][0]["file2_col"] = "fullname"
    status, body, _ = _submit(aws, {"name": "n", "config": config})
    assert status == 400
    assert "'fullname'" in body["details"] and "file2 'people.csv'" in body["details"]
    assert aws.receive(2) == []


def test_unknown_output_column_is_rejected(aws: AwsStack) -> None:
    f1, f2 = _files(aws)
    status, body, _ = _submit(
        aws, {"name": "n", "config": match_config(f1, f2, output_cols1=["customer_name", "zip"])}
    )
    assert status == 400
    assert "config.output_cols1[1]" in body["details"] and "'zip'" in body["details"]


def test_another_users_file_cannot_be_used(aws: AwsStack) -> None:
    theirs = aws.upload("bob", "customers.csv", CSV1)
    mine = aws.upload("alice", "people.csv", CSV2)
    status, body, _ = _submit(aws, {"name": "n", "config": match_config(theirs, mine)})
    assert status == 400
    assert body["details"].startswith("config.file1:")


def test_a_file_that_was_never_uploaded_is_rejected(aws: AwsStack) -> None:
    _, f2 = _files(aws)
    missing = "file_33333333-3333-4333-8333-333333333333"
    status, body, _ = _submit(aws, {"name": "n", "config": match_config(missing, f2)})
    assert status == 400
    assert "config.file1" in body["details"] and missing in body["details"]


def test_an_empty_file_is_rejected_at_submit(aws: AwsStack) -> None:
    f1 = aws.upload("alice", "customers.csv", "")
    f2 = aws.upload("alice", "people.csv", CSV2)
    status, body, _ = _submit(aws, {"name": "n", "config": match_config(f1, f2)})
    assert status == 400
    assert body["details"] == "config.file1: 'customers.csv' is empty"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("people.csv", "name,city\n"),
        ("people.csv", "\ufeffname;city\r\n\r\n   \r\n"),  # blank lines are no rows
        ("people.tsv", "name\tcity\n\n"),
    ],
)
def test_a_header_only_file_is_rejected_at_submit(aws: AwsStack, name: str, content: str) -> None:
    f1 = aws.upload("alice", name, content)
    f2 = aws.upload("alice", "other.csv", CSV2)
    status, body, _ = _submit(aws, {"name": "n", "config": match_config(f1, f2)})
    assert status == 400, body
    assert body["details"] == f"config.file1: '{name}' has a header but no data rows"


def test_a_header_only_xlsx_is_rejected_at_submit(aws: AwsStack) -> None:
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["name", "city"])
    buffer = io.BytesIO()
    book.save(buffer)
    f1 = aws.upload("alice", "people.xlsx", buffer.getvalue())
    f2 = aws.upload("alice", "other.csv", CSV2)
    status, body, _ = _submit(aws, {"name": "n", "config": match_config(f1, f2)})
    assert status == 400, body
    assert body["details"] == "config.file1: 'people.xlsx' has a header but no data rows"


def test_a_stored_file_over_the_upload_limit_is_rejected_at_submit(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matchq.settings import forget_settings

    f1 = aws.upload("alice", "customers.csv", CSV1)
    f2 = aws.upload("alice", "people.csv", CSV2)
    with monkeypatch.context() as patch:
        patch.setenv("MATCHQ_MAX_UPLOAD_BYTES", str(len(CSV1) - 1))
        forget_settings()
        try:
            status, body, _ = _submit(aws, {"name": "n", "config": match_config(f1, f2)})
        finally:
            forget_settings()
    assert status == 400
    assert body["details"] == (
        f"config.file1: 'customers.csv' holds {len(CSV1):,} bytes; files may hold at most "
        f"{len(CSV1) - 1:,}"
    )


def test_a_job_that_cannot_be_queued_leaves_nothing_behind(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: JobQueues, job_id: str, priority: int) -> None:
        raise RuntimeError("sqs down")

    monkeypatch.setattr(JobQueues, "enqueue", broken)
    f1, f2 = _files(aws)
    status, body, _ = _submit(aws, {"name": "n", "config": match_config(f1, f2)})
    assert status == 503
    assert "sqs" not in body["details"].lower()
    status, jobs, _ = call("list_jobs", api_event("list_jobs", query={}))
    assert jobs == []


def test_a_file_with_too_many_columns_is_rejected(aws: AwsStack) -> None:
    wide = ",".join(f"c{i}" for i in range(1001)) + "\n" + ",".join("x" * 1001) + "\n"
    f1 = aws.upload("alice", "wide.csv", wide)
    f2 = aws.upload("alice", "people.csv", CSV2)
    config = match_config(f1, f2, output_cols1=None)
    config["mappings"][0]["file1_col"] = "c0"
    status, body, _ = _submit(aws, {"name": "n", "config": config})
    assert status == 400
    assert "1001 columns" in body["details"]


def _xlsx(rows: list[list[str]]) -> bytes:
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsx_larger_than_the_header_probe_is_read_whole(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("matchq.services.jobs.HEADER_PROBE_BYTES", 256)
    data = _xlsx([["customer_name", "email"], ["Jon Smith", "jon@example.com"]])
    assert len(data) > 256
    f1 = aws.upload("alice", "customers.xlsx", data)
    f2 = aws.upload("alice", "people.csv", CSV2)
    status, body, _ = _submit(aws, {"name": "n", "config": match_config(f1, f2)})
    assert status == 200, body


def test_a_csv_header_longer_than_the_probe_is_read_whole(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("matchq.services.jobs.HEADER_PROBE_BYTES", 16)
    f1, f2 = _files(aws)
    status, body, _ = _submit(aws, {"name": "n", "config": match_config(f1, f2)})
    assert status == 200, body
