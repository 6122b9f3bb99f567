"""GET /files/{file_id} against moto: the preview of an upload, its owner, its absence."""

from __future__ import annotations

import codecs
import io
import json
import re
from typing import Any

import openpyxl
import pytest

from matchq.dal.files import FileRecords
from matchq.formats.delimited import PROBE_BYTES
from tests.support import CSV1, AwsStack, api_event, call, error_body_ok

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
PREVIEW_KEYS = {
    "file_id",
    "filename",
    "size_bytes",
    "format",
    "encoding",
    "delimiter",
    "columns",
    "sample_rows",
}


def create(user: str, filename: str) -> dict[str, Any]:
    """POST /files through its handler; the grant."""
    status, grant, _ = call(
        "create_upload", api_event("create_upload", user=user, body={"filename": filename})
    )
    assert status == 201, grant
    return dict(grant)


def upload(aws: AwsStack, user: str, filename: str, content: bytes) -> str:
    """Create the upload as a user does, then store the file where the form would."""
    grant = create(user, filename)
    aws.session.client("s3").put_object(
        Bucket=aws.bucket, Key=grant["upload"]["fields"]["key"], Body=content
    )
    return str(grant["file_id"])


def get_file(file_id: str, *, user: str = "alice", admin: bool = False) -> tuple[int, Any]:
    event = api_event("get_file", user=user, admin=admin)
    old = event["pathParameters"]["file_id"]
    event["pathParameters"]["file_id"] = file_id
    event["path"] = event["path"].replace(old, file_id)
    status, body, _ = call("get_file", event)
    return status, body


def test_the_owner_gets_the_preview(aws: AwsStack) -> None:
    file_id = upload(aws, "alice", "customers.csv", CSV1.encode())
    status, body = get_file(file_id)
    assert status == 200, body
    assert body == {
        "file_id": file_id,
        "filename": "customers.csv",
        "size_bytes": len(CSV1.encode()),
        "format": "csv",
        "encoding": "UTF-8",
        "delimiter": ",",
        "columns": ["customer_name", "email", "phone"],
        "sample_rows": [
            {"customer_name": "Jonathan Smith", "email": "jon@example.com", "phone": "555-0100"},
            {"customer_name": "Maria Garcia", "email": "maria@example.com", "phone": "555-0101"},
            {"customer_name": "Wei Zhang", "email": "wei@example.com", "phone": "555-0102"},
        ],
    }


@pytest.mark.parametrize(
    ("filename", "content", "fmt", "encoding", "delimiter"),
    [
        ("p.tsv", "a\tb\n1\t\n".encode("utf-16"), "tsv", "UTF-16", "\t"),
        ("p.txt", codecs.BOM_UTF8 + b"a|b\n1|\n", "txt", "UTF-8 (BOM)", "|"),
        ("p.csv", "a;b\n\xe9;\n".encode("cp1252"), "csv", "Windows-1252", ";"),
        ("p.json", b'[{"a": 1, "b": null}]', "json", "UTF-8", None),
        ("p.jsonl", b'{"a": 1, "b": ""}\n', "jsonl", "UTF-8", None),
    ],
)
def test_every_format_reports_how_it_is_read(
    aws: AwsStack,
    filename: str,
    content: bytes,
    fmt: str,
    encoding: str,
    delimiter: str | None,
) -> None:
    status, body = get_file(upload(aws, "alice", filename, content))
    assert status == 200, body
    assert set(body) == PREVIEW_KEYS
    assert (body["format"], body["encoding"], body["delimiter"]) == (fmt, encoding, delimiter)
    assert body["columns"] == ["a", "b"]
    assert body["sample_rows"][0]["b"] is None
    assert body["sample_rows"][0]["a"] in {"1", "\xe9"}


def test_an_xlsx_is_read_whole(aws: AwsStack) -> None:
    workbook = openpyxl.Workbook()
    for row in [["name", "n"], *[[f"r{i}", i] for i in range(15)]]:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    status, body = get_file(upload(aws, "alice", "book.xlsx", buffer.getvalue()))
    assert status == 200, body
    assert (body["format"], body["encoding"], body["delimiter"]) == ("xlsx", None, None)
    assert body["sample_rows"] == [{"name": f"r{i}", "n": str(i)} for i in range(10)]


def test_a_big_file_is_previewed_from_its_first_mib(aws: AwsStack) -> None:
    row = "x" * 500 + ",1\n"
    content = ("a,b\n" + row * (3 * PROBE_BYTES // len(row))).encode()
    status, body = get_file(upload(aws, "alice", "big.csv", content))
    assert status == 200, body
    assert body["size_bytes"] == len(content)
    assert len(body["sample_rows"]) == 10
    assert body["sample_rows"][0] == {"a": "x" * 200 + "\u2026", "b": "1"}  # capped


def test_another_users_file_is_forbidden(aws: AwsStack) -> None:
    file_id = upload(aws, "alice", "customers.csv", CSV1.encode())
    status, body = get_file(file_id, user="mallory")
    assert status == 403
    assert error_body_ok(body, "Forbidden")
    assert body["details"] == "Access denied to this file"


def test_an_admin_may_read_any_file(aws: AwsStack) -> None:
    file_id = upload(aws, "alice", "customers.csv", CSV1.encode())
    status, body = get_file(file_id, user="root", admin=True)
    assert status == 200, body
    assert body["columns"] == ["customer_name", "email", "phone"]


@pytest.mark.parametrize(
    "file_id",
    ["file_12345678-1234-4234-9234-123456789abc", "job_12345678-1234-4234-9234-123456789abc", "x"],
)
def test_an_unknown_file_is_not_found(aws: AwsStack, file_id: str) -> None:
    status, body = get_file(file_id)
    assert status == 404
    assert error_body_ok(body, "Not Found")
    assert body["details"] == f"File not found: {file_id}"


def test_a_file_created_but_not_uploaded_is_not_found(aws: AwsStack) -> None:
    file_id = create("alice", "later.csv")["file_id"]
    status, body = get_file(file_id)
    assert status == 404
    assert error_body_ok(body, "Not Found")
    assert body["details"].startswith(f"File not uploaded yet: {file_id}")
    assert get_file(file_id, user="mallory")[0] == 403  # the owner is known already


def test_an_upload_without_an_owner_record_is_still_its_owners(aws: AwsStack) -> None:
    """Files stored before ownership records existed: the caller's own prefix decides."""
    file_id = aws.upload("alice", "old.csv", CSV1)  # stored directly, no record
    assert get_file(file_id)[0] == 200
    assert get_file(file_id, user="mallory")[0] == 404


def test_a_broken_file_is_a_400_naming_the_row(aws: AwsStack) -> None:
    status, body = get_file(upload(aws, "alice", "bad.csv", b"a,b\n1,2\n3\n"))
    assert status == 400
    assert error_body_ok(body, "Bad Request")
    assert body["details"] == "bad.csv: data row 1 (line 3) has 1 fields but the header has 2"


def test_the_owner_record_stays_out_of_job_listings_and_counts(aws: AwsStack) -> None:
    file_id = upload(aws, "alice", "customers.csv", CSV1.encode())
    record = FileRecords(aws.table_name, aws.session.resource("dynamodb")).get(file_id)
    assert record is not None and record.user_id == "alice"
    assert record.filename == "customers.csv"
    item = (
        aws.session.resource("dynamodb")
        .Table(aws.table_name)
        .get_item(Key={"job_id": file_id})["Item"]
    )
    assert ISO_Z.match(str(item["created_at"]))
    assert int(item["expires_at"]) > 0  # the table's TTL attribute
    # none of the indexes' key attributes: no job query can return it
    assert not {"user_id", "status", "user_status", "entity", "created_key"} & set(item)
    for user, admin in (("alice", False), ("root", True)):
        status, jobs, _ = call("list_jobs", api_event("list_jobs", user=user, admin=admin))
        assert (status, jobs) == (200, [])
        status, stats, _ = call("job_stats", api_event("job_stats", user=user, admin=admin))
        assert status == 200 and stats["total_jobs"] == 0


def test_the_answer_matches_the_documented_schema(aws: AwsStack) -> None:
    from tests.support import ROOT

    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    operation = document["paths"]["/api/v1/files/{file_id}"]["get"]
    assert {"200", "400", "401", "403", "404", "500"} <= set(operation["responses"])
    schema = document["components"]["schemas"]["FileView"]
    assert set(schema["required"]) == PREVIEW_KEYS
    status, body = get_file(upload(aws, "alice", "customers.csv", CSV1.encode()))
    assert status == 200 and set(body) == set(schema["properties"])
