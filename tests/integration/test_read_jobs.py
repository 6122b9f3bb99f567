"""GET /jobs/{id}, GET /jobs/list and GET /jobs/stats against moto."""

from __future__ import annotations

import pytest

from tests.support import AwsStack, api_event, call, error_body_ok, submit

SPEC_FIELDS = {
    "id": str,
    "name": str,
    "status": str,
    "priority": int,
    "created_at": str,
    "progress": int,
    "message": str,
    "result_files": list,
    "user_id": str,
}
NULLABLE = ("started_at", "completed_at", "error_message", "duration", "estimated_remaining")


def test_job_has_every_field_of_the_spec_with_its_type(aws: AwsStack) -> None:
    job_id = submit(aws)
    status, job, _ = call("get_job", api_event("get_job", job_id=job_id))
    assert status == 200
    for name, kind in SPEC_FIELDS.items():
        assert isinstance(job[name], kind), name
    for name in NULLABLE:
        assert name in job and job[name] is None, name
    assert job["created_at"].endswith("Z") and len(job["created_at"]) == 20


def test_another_users_job_is_forbidden(aws: AwsStack) -> None:
    job_id = submit(aws, "alice")
    status, body, _ = call("get_job", api_event("get_job", user="bob", job_id=job_id))
    assert status == 403
    assert error_body_ok(body, "Forbidden")
    assert body["details"] == "Access denied to this job"


def test_an_admin_reads_anyones_job(aws: AwsStack) -> None:
    job_id = submit(aws, "alice")
    status, job, _ = call("get_job", api_event("get_job", user="root", admin=True, job_id=job_id))
    assert status == 200 and job["user_id"] == "alice"


@pytest.mark.parametrize("job_id", ["job_invalid_id", "job_00000000-0000-4000-8000-000000000000"])
def test_unknown_job_is_a_404_naming_it(aws: AwsStack, job_id: str) -> None:
    status, body, _ = call("get_job", api_event("get_job", job_id=job_id))
    assert status == 404
    assert error_body_ok(body, "Not Found")
    assert body["details"] == f"Job not found: {job_id}"


def test_list_shows_only_the_callers_jobs_newest_first(aws: AwsStack) -> None:
    first = submit(aws, "alice")
    submit(aws, "bob")
    second = submit(aws, "alice")
    status, jobs, headers = call("list_jobs", api_event("list_jobs", query={}))
    assert status == 200
    assert [j["id"] for j in jobs] == [second, first]
    assert "X-Next-Token" not in headers


def test_admin_list_shows_everyone(aws: AwsStack) -> None:
    ids = {submit(aws, "alice"), submit(aws, "bob")}
    status, jobs, _ = call("list_jobs", api_event("list_jobs", user="root", admin=True, query={}))
    assert status == 200 and {j["id"] for j in jobs} == ids


def test_list_filters_by_status(aws: AwsStack) -> None:
    keep = submit(aws)
    gone = submit(aws)
    assert call("cancel_job", api_event("cancel_job", job_id=gone))[0] == 200
    _, pending, _ = call("list_jobs", api_event("list_jobs", query={"status": "pending"}))
    _, cancelled, _ = call("list_jobs", api_event("list_jobs", query={"status": "cancelled"}))
    assert [j["id"] for j in pending] == [keep]
    assert [j["id"] for j in cancelled] == [gone]


def test_paging_with_next_token_returns_every_job_exactly_once(aws: AwsStack) -> None:
    submitted = [submit(aws) for _ in range(7)]
    seen: list[str] = []
    query = {"limit": "3"}
    pages = 0
    while True:
        status, jobs, headers = call("list_jobs", api_event("list_jobs", query=query))
        assert status == 200 and len(jobs) <= 3
        seen.extend(j["id"] for j in jobs)
        pages += 1
        token = headers.get("X-Next-Token")
        if not token:
            break
        query = {"limit": "3", "next_token": token}
    assert pages == 3
    assert seen == list(reversed(submitted))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "done"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"next_token": "not-a-token"}, "next_token"),
    ],
)
def test_bad_list_parameters_are_400_naming_them(
    aws: AwsStack, query: dict[str, str], field: str
) -> None:
    status, body, _ = call("list_jobs", api_event("list_jobs", query=query))
    assert status == 400
    assert error_body_ok(body, "Bad Request") and field in body["details"]


def test_a_token_from_another_users_listing_is_refused(aws: AwsStack) -> None:
    for _ in range(3):
        submit(aws, "bob")
    _, _, headers = call("list_jobs", api_event("list_jobs", user="bob", query={"limit": "1"}))
    token = headers["X-Next-Token"]
    status, body, _ = call("list_jobs", api_event("list_jobs", query={"next_token": token}))
    assert status == 400 and "next_token" in body["details"]


def test_stats_count_the_callers_jobs(aws: AwsStack) -> None:
    submit(aws, "alice")
    cancelled = submit(aws, "alice")
    submit(aws, "bob")
    call("cancel_job", api_event("cancel_job", job_id=cancelled))
    status, stats, _ = call("job_stats", api_event("job_stats"))
    assert status == 200
    assert stats == {
        "total_jobs": 2,
        "pending": 1,
        "running": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 1,
        "active_workers": 0,
        "total_workers": 2 + 3 + 5 + 10,
    }


def test_admin_stats_count_everyone(aws: AwsStack) -> None:
    submit(aws, "alice")
    submit(aws, "bob")
    _, stats, _ = call("job_stats", api_event("job_stats", user="root", admin=True))
    assert stats["total_jobs"] == 2 and stats["pending"] == 2


def test_unknown_route_is_a_404_with_the_error_body(aws: AwsStack) -> None:
    event = api_event("job_stats")
    event["path"] = "/api/v1/jobs/stats/extra"
    status, body, _ = call("job_stats", event)
    assert status == 404 and error_body_ok(body, "Not Found")


def test_an_aws_failure_is_a_500_without_internals(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from matchq.dal.jobs import JobRepository

    def broken(self: JobRepository, job_id: str) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "arn:aws:iam::1:role/x denied"}},
            "GetItem",
        )

    monkeypatch.setattr(JobRepository, "get", broken)
    status, body, _ = call("get_job", api_event("get_job", job_id="job_x"))
    assert status == 500
    assert error_body_ok(body, "Internal Server Error")
    text = str(body)
    assert "arn:" not in text and "AccessDenied" not in text and "Traceback" not in text


def _position(job_id: str, user: str) -> int | None:
    status, job, _ = call("get_job", api_event("get_job", job_id=job_id, user=user))
    assert status == 200, job
    return job["queue_position"]


def test_queue_positions_across_priorities_and_users(aws: AwsStack) -> None:
    # created in this order: (user, priority)
    order = [("alice", 2), ("bob", 2), ("alice", 4), ("carol", 1), ("bob", 3), ("alice", 2)]
    jobs = [(user, submit(aws, user, priority=p)) for user, p in order]
    # starts first: urgent, then high, then normal by age, then low
    expected = [3, 4, 1, 6, 2, 5]
    assert [_position(job_id, user) for user, job_id in jobs] == expected
    # a job that leaves the queue moves the ones behind it up; it has no position itself
    user, urgent = jobs[2]
    status, body, _ = call("cancel_job", api_event("cancel_job", job_id=urgent, user=user))
    assert status == 200, body
    assert _position(urgent, user) is None
    assert [_position(job_id, user) for user, job_id in jobs if job_id != urgent] == [2, 3, 5, 1, 4]
    listed = call("list_jobs", api_event("list_jobs", user="alice"))[1]
    assert all(job["queue_position"] is None for job in listed)  # GET /jobs/{id} only
