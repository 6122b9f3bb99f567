"""Cancel, delete, cleanup, results and uploads against moto."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from matchq.dal.jobs import JobRepository
from matchq.models import JobStatus, utcnow
from matchq.services.wiring import job_service
from tests.support import (
    FAKE_SUMMARY,
    AwsStack,
    api_event,
    call,
    complete,
    error_body_ok,
    job_record,
    submit,
)


def test_cancel_pending_job(aws: AwsStack) -> None:
    job_id = submit(aws)
    status, body, _ = call("cancel_job", api_event("cancel_job", job_id=job_id))
    assert status == 200
    assert body == {"success": True, "message": "Job cancelled successfully"}
    job = job_record(aws, job_id)
    assert job.status is JobStatus.CANCELLED and job.completed_at is not None


def test_cancel_of_a_finished_job_is_a_409(aws: AwsStack) -> None:
    job_id = submit(aws)
    assert complete(aws, job_id) == "completed"
    status, body, _ = call("cancel_job", api_event("cancel_job", job_id=job_id))
    assert status == 409
    assert error_body_ok(body, "Conflict") and "completed" in body["details"]


def test_cancel_of_another_users_job_is_forbidden(aws: AwsStack) -> None:
    job_id = submit(aws, "alice")
    status, body, _ = call("cancel_job", api_event("cancel_job", user="bob", job_id=job_id))
    assert status == 403 and body["details"] == "Access denied to this job"
    assert job_record(aws, job_id).status is JobStatus.PENDING


def test_admin_may_cancel_anyones_job(aws: AwsStack) -> None:
    job_id = submit(aws, "alice")
    status, _, _ = call(
        "cancel_job", api_event("cancel_job", user="ops", admin=True, job_id=job_id)
    )
    assert status == 200
    assert "admin ops" in job_record(aws, job_id).message


def test_delete_of_a_pending_job_is_a_409(aws: AwsStack) -> None:
    job_id = submit(aws)
    status, body, _ = call("delete_job", api_event("delete_job", job_id=job_id))
    assert status == 409 and error_body_ok(body, "Conflict")
    assert job_record(aws, job_id) is not None


def test_delete_removes_the_record_and_every_result_file(aws: AwsStack) -> None:
    job_id = submit(aws)
    complete(aws, job_id)
    assert len(aws.keys("results/alice/" + job_id)) == 4
    status, body, _ = call("delete_job", api_event("delete_job", job_id=job_id))
    assert status == 200 and body == {"success": True, "message": "Job deleted successfully"}
    assert job_record(aws, job_id) is None
    assert aws.keys("results/alice/" + job_id) == []
    status, _, _ = call("get_job", api_event("get_job", job_id=job_id))
    assert status == 404


def test_delete_of_another_users_job_is_forbidden(aws: AwsStack) -> None:
    job_id = submit(aws, "alice")
    complete(aws, job_id)
    status, _, _ = call("delete_job", api_event("delete_job", user="bob", job_id=job_id))
    assert status == 403
    assert job_record(aws, job_id) is not None


def test_results_of_a_completed_job_have_download_links(aws: AwsStack) -> None:
    job_id = submit(aws)
    complete(aws, job_id)
    status, body, _ = call("job_results", api_event("job_results", job_id=job_id))
    assert status == 200
    assert body["job_id"] == job_id
    names = [f["name"] for f in body["files"]]
    assert names == ["matched_results.json", "unmatched_1.json", "unmatched_2.json",
                     "summary.json"]  # fmt: skip
    for f in body["files"]:
        assert f["size_bytes"] == (
            len(json.dumps(FAKE_SUMMARY)) if f["name"] == "summary.json" else 2
        )
        assert f["expires_in"] == 900
        assert f["download_url"].startswith("https://") and "Signature" in f["download_url"]
    _, job, _ = call("get_job", api_event("get_job", job_id=job_id))
    assert job["result_files"] == [f"/results/{job_id}/{n}" for n in names]
    assert job["progress"] == 100 and job["estimated_remaining"] == 0


def test_results_before_completion_are_a_409(aws: AwsStack) -> None:
    job_id = submit(aws)
    status, body, _ = call("job_results", api_event("job_results", job_id=job_id))
    assert status == 409 and "pending" in body["details"]


def test_results_of_another_users_job_are_forbidden(aws: AwsStack) -> None:
    job_id = submit(aws, "alice")
    complete(aws, job_id)
    status, _, _ = call("job_results", api_event("job_results", user="bob", job_id=job_id))
    assert status == 403


def _age(aws: AwsStack, job_id: str, hours: int) -> None:
    """Pretend a job was created and finished `hours` ago."""
    repo = JobRepository(aws.table_name)
    job = repo.get(job_id)
    old = utcnow() - timedelta(hours=hours)
    from matchq.dal.jobs import job_to_item

    item = job_to_item(job.model_copy(update={"created_at": old, "completed_at": old}))
    repo._table.put_item(Item=item)


def test_cleanup_removes_old_finished_jobs_only(aws: AwsStack) -> None:
    old_done = submit(aws)
    complete(aws, old_done)
    old_pending = submit(aws)
    fresh_done = submit(aws)
    complete(aws, fresh_done)
    _age(aws, old_done, 72)
    _age(aws, old_pending, 72)
    status, body, _ = call("cleanup_jobs", api_event("cleanup_jobs", query={"max_age_hours": "48"}))
    assert status == 200
    assert body["success"] is True and body["cleaned_jobs"] == 1
    assert isinstance(body["freed_space_mb"], int | float)
    assert body["message"].startswith("Cleaned up 1 old jobs, freed ")
    assert job_record(aws, old_done) is None and aws.keys(f"results/alice/{old_done}") == []
    assert job_record(aws, old_pending) is not None
    assert job_record(aws, fresh_done) is not None


def test_cleanup_of_a_user_leaves_other_users_jobs(aws: AwsStack) -> None:
    bobs = submit(aws, "bob")
    complete(aws, bobs)
    _age(aws, bobs, 100)
    _, body, _ = call("cleanup_jobs", api_event("cleanup_jobs", query={"max_age_hours": "1"}))
    assert body["cleaned_jobs"] == 0
    assert job_record(aws, bobs) is not None
    _, body, _ = call(
        "cleanup_jobs",
        api_event("cleanup_jobs", user="root", admin=True, query={"max_age_hours": "1"}),
    )
    assert body["cleaned_jobs"] == 1


@pytest.mark.parametrize("value", ["0", "169", "abc", "-5"])
def test_cleanup_age_out_of_range_is_a_400(aws: AwsStack, value: str) -> None:
    status, body, _ = call(
        "cleanup_jobs", api_event("cleanup_jobs", query={"max_age_hours": value})
    )
    assert status == 400
    assert error_body_ok(body, "Bad Request") and "max_age_hours" in body["details"]


def test_cleanup_defaults_to_24_hours(aws: AwsStack) -> None:
    job_id = submit(aws)
    complete(aws, job_id)
    _age(aws, job_id, 23)
    _, body, _ = call("cleanup_jobs", api_event("cleanup_jobs", query={}))
    assert body["cleaned_jobs"] == 0
    _age(aws, job_id, 25)
    _, body, _ = call("cleanup_jobs", api_event("cleanup_jobs", query={}))
    assert body["cleaned_jobs"] == 1


def test_create_upload_gives_a_presigned_post_under_the_users_prefix(aws: AwsStack) -> None:
    status, body, _ = call(
        "create_upload", api_event("create_upload", body={"filename": "customers.csv"})
    )
    assert status == 201
    assert body["file_id"].startswith("file_")
    assert body["max_bytes"] == 104857600 and body["expires_in"] == 900
    fields = body["upload"]["fields"]
    assert fields["key"] == f"uploads/alice/{body['file_id']}/customers.csv"
    assert "policy" in fields and body["upload"]["url"]


@pytest.mark.parametrize(
    ("filename", "stored"),
    [
        ("../../etc/x.csv", "x.csv"),
        ("C:\\data\\My List.TSV", "My List.tsv"),
        ("a;b$c.jsonl", "a_b_c.jsonl"),
    ],
)
def test_upload_filenames_are_sanitised(aws: AwsStack, filename: str, stored: str) -> None:
    status, body, _ = call("create_upload", api_event("create_upload", body={"filename": filename}))
    assert status == 201
    assert body["upload"]["fields"]["key"].endswith("/" + stored)


@pytest.mark.parametrize("filename", ["report.exe", "noextension", "", ".csv"])
def test_unsupported_upload_names_are_a_400(aws: AwsStack, filename: str) -> None:
    status, body, _ = call("create_upload", api_event("create_upload", body={"filename": filename}))
    assert status == 400
    assert "filename" in body["details"]


def test_service_cleanup_never_touches_running_jobs(aws: AwsStack) -> None:
    job_id = submit(aws)
    repo = JobRepository(aws.table_name)
    repo.claim(repo.get(job_id), "run-1", utcnow())
    _age(aws, job_id, 100)
    report = job_service().cleanup(None, 1)
    assert report.cleaned_jobs == 0
    assert repo.get(job_id).status is JobStatus.RUNNING


def test_the_upload_policy_caps_the_size_and_pins_the_key(aws: AwsStack) -> None:
    import base64
    import json

    _, body, _ = call("create_upload", api_event("create_upload", body={"filename": "a.csv"}))
    fields = body["upload"]["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert ["content-length-range", 1, body["max_bytes"]] in policy["conditions"]
    assert {"key": fields["key"]} in policy["conditions"]
    assert {"bucket": aws.bucket} in policy["conditions"]


def test_delete_of_a_running_job_is_a_409(aws: AwsStack) -> None:
    job_id = submit(aws)
    repo = JobRepository(aws.table_name)
    repo.claim(repo.get(job_id), "run-1", utcnow())
    status, body, _ = call("delete_job", api_event("delete_job", job_id=job_id))
    assert status == 409 and "running" in body["details"]
    assert repo.get(job_id).status is JobStatus.RUNNING
