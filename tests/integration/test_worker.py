"""The worker: claim, run, finish; duplicates, cancellation, failures; and maintenance."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from matchq.dal.jobs import JobRepository, job_to_item
from matchq.errors import InputFileError
from matchq.models import JobStatus, utcnow
from matchq.services.wiring import maintenance
from matchq.services.worker import Outcome
from tests.support import (
    AwsStack,
    FakeContext,
    api_event,
    call,
    complete,
    fake_engine,
    job_record,
    load_event,
    load_function,
    message,
    runner,
    submit,
)


def sqs_event(aws: AwsStack, priority: int = 2) -> dict[str, Any]:
    """The worker's SQS event for the messages now on a queue (the events/ file as template)."""
    template = load_event("worker")["Records"][0]
    records = []
    for received in aws.receive(priority):
        record = dict(template)
        record.update(
            messageId=received["MessageId"],
            receiptHandle=received["ReceiptHandle"],
            body=received["Body"],
            attributes={**template["attributes"], **received["Attributes"]},
        )
        records.append(record)
    return {"Records": records}


def test_worker_function_runs_a_queued_job_to_completion(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("matchq.services.worker.default_engine", lambda: fake_engine)
    job_id = submit(aws)
    event = sqs_event(aws)
    assert len(event["Records"]) == 1
    result = load_function("worker").lambda_handler(event, FakeContext())
    assert result == {"batchItemFailures": []}
    job = job_record(aws, job_id)
    assert job.status is JobStatus.COMPLETED and job.progress == 100
    assert job.message == "Processing completed successfully"
    assert sorted(aws.keys(f"results/alice/{job_id}/")) == [
        f"results/alice/{job_id}/{n}"
        for n in ("matched_results.json", "summary.json", "unmatched_1.json", "unmatched_2.json")
    ]


def test_a_duplicate_delivery_changes_nothing(aws: AwsStack) -> None:
    job_id = submit(aws)
    assert complete(aws, job_id) is Outcome.COMPLETED
    before = job_record(aws, job_id)
    assert complete(aws, job_id) is Outcome.NOT_PENDING
    assert job_record(aws, job_id) == before


def test_a_message_for_a_cancelled_job_is_ignored(aws: AwsStack) -> None:
    job_id = submit(aws)
    call("cancel_job", api_event("cancel_job", job_id=job_id))
    assert complete(aws, job_id) is Outcome.NOT_PENDING
    assert aws.keys(f"results/alice/{job_id}/") == []


def test_a_message_for_a_deleted_job_is_dropped(aws: AwsStack) -> None:
    assert complete(aws, "job_00000000-0000-4000-8000-000000000000") is Outcome.GONE


@pytest.mark.parametrize("body", ["{not json", json.dumps({"job": 1}), json.dumps({"job_id": 7})])
def test_an_unreadable_message_fails_its_record_and_goes_to_the_dead_letter_queue(
    aws: AwsStack, body: str
) -> None:
    event = load_event("worker")
    event["Records"][0]["body"] = body
    result = load_function("worker").lambda_handler(event, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_cancel_while_running_stops_the_job_and_leaves_no_results(aws: AwsStack) -> None:
    job_id = submit(aws)

    def cancelled_midway(config: Any, f1: Path, f2: Path, out: Path, **kw: Any) -> Any:
        (out / "matched_results.json").write_text("[]")
        call("cancel_job", api_event("cancel_job", job_id=job_id))
        kw["progress"](60, "Matching")  # the heartbeat notices the cancellation
        return fake_engine(config, f1, f2, out, **kw)

    assert complete(aws, job_id, cancelled_midway) is Outcome.CANCELLED
    job = job_record(aws, job_id)
    assert job.status is JobStatus.CANCELLED
    assert aws.keys(f"results/alice/{job_id}/") == []


def test_cancel_between_upload_and_finish_removes_the_results(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submit(aws)
    original = JobRepository.finish

    def cancel_first(self: JobRepository, job: Any, *args: Any, **kwargs: Any) -> Any:
        call("cancel_job", api_event("cancel_job", job_id=job_id))
        return original(self, job, *args, **kwargs)

    monkeypatch.setattr(JobRepository, "finish", cancel_first)
    assert complete(aws, job_id) is Outcome.CANCELLED
    assert job_record(aws, job_id).status is JobStatus.CANCELLED
    assert aws.keys(f"results/alice/{job_id}/") == []


def test_bad_input_fails_the_job_with_a_readable_message(aws: AwsStack) -> None:
    job_id = submit(aws)

    def bad_input(*args: Any, **kwargs: Any) -> Any:
        raise InputFileError("file1 'customers.csv': row 7 has 4 fields, the header has 3")

    assert complete(aws, job_id, bad_input) is Outcome.FAILED
    job = job_record(aws, job_id)
    assert job.status is JobStatus.FAILED
    assert job.error_message == "file1 'customers.csv': row 7 has 4 fields, the header has 3"
    assert aws.keys(f"results/alice/{job_id}/") == []


def test_an_unexpected_error_fails_the_job_without_internals(aws: AwsStack) -> None:
    job_id = submit(aws)

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("secret internal detail")

    assert complete(aws, job_id, crash) is Outcome.FAILED
    job = job_record(aws, job_id)
    assert job.status is JobStatus.FAILED
    assert job.error_message.startswith("Internal error while processing the job (reference ")
    assert "secret" not in job.error_message


def test_a_job_about_to_hit_the_time_limit_fails_cleanly(aws: AwsStack) -> None:
    job_id = submit(aws)
    outcome = runner().handle(message(job_id), time_left=lambda: 5.0)
    assert outcome is Outcome.FAILED
    assert "time limit" in job_record(aws, job_id).error_message


def test_the_last_delivery_of_a_poison_message_fails_the_job(aws: AwsStack) -> None:
    job_id = submit(aws)
    outcome = runner().handle(message(job_id), receive_count=3)
    assert outcome is Outcome.POISONED
    job = job_record(aws, job_id)
    assert job.status is JobStatus.FAILED and "2 delivery attempts" in job.error_message


def test_progress_is_reported_while_running(aws: AwsStack) -> None:
    job_id = submit(aws)
    seen: list[Any] = []

    def watch(config: Any, f1: Path, f2: Path, out: Path, **kw: Any) -> Any:
        kw["progress"](40, "Matched 400 of 1,000 rows")
        seen.append(job_record(aws, job_id))
        return fake_engine(config, f1, f2, out, **kw)

    complete(aws, job_id, watch)
    running = seen[0]
    assert running.status is JobStatus.RUNNING
    assert running.progress == 40 and running.message == "Matched 400 of 1,000 rows"
    assert running.heartbeat_at is not None and running.estimated_remaining is not None


def _stale(aws: AwsStack, job_id: str, attempts: int) -> None:
    repo = JobRepository(aws.table_name)
    job = repo.claim(repo.get(job_id), "dead-run", utcnow())
    old = utcnow() - timedelta(hours=1)
    job = job.model_copy(update={"heartbeat_at": old, "attempts": attempts})
    repo._table.put_item(Item=job_to_item(job))


def test_reaper_requeues_a_job_whose_worker_died(aws: AwsStack) -> None:
    job_id = submit(aws)
    aws.receive(2)  # the first delivery went to the worker that died
    _stale(aws, job_id, attempts=1)
    report = maintenance().run()
    assert report.requeued == [job_id]
    job = job_record(aws, job_id)
    assert job.status is JobStatus.PENDING and job.run_id is None
    assert "Re-queued" in job.message
    assert complete(aws, job_id) is Outcome.COMPLETED


def test_reaper_fails_a_job_after_the_attempt_limit(aws: AwsStack) -> None:
    job_id = submit(aws)
    _stale(aws, job_id, attempts=3)
    report = maintenance().run()
    assert report.failed == [job_id]
    job = job_record(aws, job_id)
    assert job.status is JobStatus.FAILED and "stopped responding 3 times" in job.error_message


def test_reaper_leaves_a_live_job_alone(aws: AwsStack) -> None:
    job_id = submit(aws)
    repo = JobRepository(aws.table_name)
    repo.claim(repo.get(job_id), "live-run", utcnow())
    report = maintenance().run()
    assert report.requeued == [] and report.failed == []
    assert job_record(aws, job_id).status is JobStatus.RUNNING


def test_a_stale_worker_cannot_finish_a_requeued_job(aws: AwsStack) -> None:
    job_id = submit(aws)
    repo = JobRepository(aws.table_name)
    claimed = repo.claim(repo.get(job_id), "old-run", utcnow())
    repo.requeue(claimed, now=utcnow(), message="re-queued")
    assert repo.finish(claimed, "old-run", JobStatus.COMPLETED, now=utcnow(), message="x") is None
    assert repo.get(job_id).status is JobStatus.PENDING


def test_maintenance_function_cleans_up_by_retention(aws: AwsStack) -> None:
    job_id = submit(aws)
    complete(aws, job_id)
    repo = JobRepository(aws.table_name)
    old = utcnow() - timedelta(hours=25)
    repo._table.put_item(
        Item=job_to_item(
            repo.get(job_id).model_copy(update={"created_at": old, "completed_at": old})
        )
    )
    result = load_function("maintenance").lambda_handler(load_event("maintenance"), FakeContext())
    assert result["cleaned_jobs"] == 1
    assert repo.get(job_id) is None


def test_cancel_racing_the_claim_wins_and_nothing_runs(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submit(aws)
    original = JobRepository.claim

    def cancel_first(self: JobRepository, job: Any, run_id: str, now: Any) -> Any:
        call("cancel_job", api_event("cancel_job", job_id=job_id))
        return original(self, job, run_id, now)

    monkeypatch.setattr(JobRepository, "claim", cancel_first)
    ran: list[bool] = []

    def engine(*args: Any, **kwargs: Any) -> Any:
        ran.append(True)
        return fake_engine(*args, **kwargs)

    assert complete(aws, job_id, engine) is Outcome.CLAIMED_ELSEWHERE
    assert ran == []
    assert job_record(aws, job_id).status is JobStatus.CANCELLED


def test_two_deliveries_at_once_finish_the_job_once(aws: AwsStack) -> None:
    """Real DynamoDB lets one claim win; moto's condition checks are not atomic across
    threads, so both may claim here. Either way exactly one run finishes the job."""
    import threading

    job_id = submit(aws)
    outcomes: list[Outcome] = []
    runs: list[int] = []
    barrier = threading.Barrier(2)

    def engine(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return fake_engine(*args, **kwargs)

    def deliver() -> None:
        barrier.wait()
        outcomes.append(complete(aws, job_id, engine))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(Outcome.COMPLETED) == 1
    other = next(o for o in outcomes if o is not Outcome.COMPLETED)
    assert other in {Outcome.NOT_PENDING, Outcome.CLAIMED_ELSEWHERE, Outcome.LOST}
    assert job_record(aws, job_id).status is JobStatus.COMPLETED
    assert len(aws.keys(f"results/alice/{job_id}/")) == 4
    assert 1 <= len(runs) <= 2


def test_maintenance_counts_jobs_running_past_the_expected_duration(aws: AwsStack) -> None:
    long_job = submit(aws)
    short_job = submit(aws)
    repo = JobRepository(aws.table_name)
    repo.claim(repo.get(short_job), "run-short", utcnow())
    claimed = repo.claim(repo.get(long_job), "run-long", utcnow())
    started = utcnow() - timedelta(hours=2)
    repo._table.put_item(Item=job_to_item(claimed.model_copy(update={"started_at": started})))
    assert maintenance().run().long_running == 1


def _s3_down(*args: Any, **kwargs: Any) -> None:
    from botocore.exceptions import ClientError

    raise ClientError(
        {"Error": {"Code": "ServiceUnavailable", "Message": "arn:aws:s3 busy"}}, "Get"
    )


def test_a_storage_error_requeues_the_job(aws: AwsStack, monkeypatch: pytest.MonkeyPatch) -> None:
    from matchq.dal.storage import Storage

    job_id = submit(aws)
    aws.receive(2)
    monkeypatch.setattr(Storage, "download", _s3_down)
    assert complete(aws, job_id) is Outcome.REQUEUED
    job = job_record(aws, job_id)
    assert job.status is JobStatus.PENDING and job.attempts == 1
    assert [json.loads(m["Body"])["job_id"] for m in aws.receive(2)] == [job_id]
    monkeypatch.undo()
    assert complete(aws, job_id) is Outcome.COMPLETED


def test_a_storage_error_on_the_last_attempt_fails_the_job_without_internals(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matchq.dal.storage import Storage

    monkeypatch.setenv("MATCHQ_MAX_ATTEMPTS", "1")
    from matchq.settings import forget_settings

    forget_settings()
    job_id = submit(aws)
    monkeypatch.setattr(Storage, "download", _s3_down)
    assert complete(aws, job_id) is Outcome.FAILED
    job = job_record(aws, job_id)
    assert job.status is JobStatus.FAILED
    assert "storage or database service failed" in job.error_message
    assert "arn:" not in job.error_message and "busy" not in job.error_message


def test_a_database_error_while_reporting_progress_requeues_the_job(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submit(aws)
    original = JobRepository.report_progress
    failures = iter([True])

    def flaky(self: JobRepository, *args: Any, **kwargs: Any) -> Any:
        if next(failures, False):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceeded"}}, "UpdateItem")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(JobRepository, "report_progress", flaky)
    assert complete(aws, job_id) is Outcome.REQUEUED
    assert job_record(aws, job_id).status is JobStatus.PENDING
    assert complete(aws, job_id) is Outcome.COMPLETED


def test_submit_through_sqs_to_result_files_with_the_real_engine(aws: AwsStack) -> None:
    job_id = submit(aws)
    result = load_function("worker").lambda_handler(sqs_event(aws), FakeContext())
    assert result == {"batchItemFailures": []}
    job = job_record(aws, job_id)
    assert job.status is JobStatus.COMPLETED, job.error_message
    s3 = aws.session.client("s3")

    def read(name: str) -> Any:
        key = f"results/alice/{job_id}/{name}"
        return json.loads(s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())

    matched = read("matched_results.json")
    assert [(m["file1_row"], m["file2_row"]) for m in matched] == [(0, 0), (2, 1)]
    assert matched[1]["score"] == 100
    assert matched[0]["file1"] == {"customer_name": "Jonathan Smith", "email": "jon@example.com"}
    assert matched[0]["file2"] == {"full_name": "Jonathon Smith", "city": "Springfield"}
    assert len(matched[0]["mapping_scores"]) == 1
    assert read("unmatched_1.json") == [
        {"file1_row": 1, "file1": {"customer_name": "Maria Garcia", "email": "maria@example.com"}}
    ]
    assert read("unmatched_2.json") == [
        {"file2_row": 2, "file2": {"full_name": "Peter Parker", "city": "New York"}}
    ]


def test_a_corrupt_input_fails_only_its_own_job(aws: AwsStack) -> None:
    from tests.support import CSV2, match_config

    good = submit(aws)
    f1 = aws.upload("alice", "customers.csv", "customer_name,email\nAnn,a@x\nBob,b@x,extra\n")
    f2 = aws.upload("alice", "people.csv", CSV2)
    status, body, _ = call(
        "submit_job",
        api_event(
            "submit_job",
            body={"name": "bad", "config": match_config(f1, f2, output_cols1=None)},
        ),
    )
    assert status == 200, body
    bad = body["job_id"]
    load_function("worker").lambda_handler(sqs_event(aws), FakeContext())
    assert job_record(aws, good).status is JobStatus.COMPLETED
    failed = job_record(aws, bad)
    assert failed.status is JobStatus.FAILED
    assert "customers.csv" in failed.error_message and "row 1" in failed.error_message


def test_log_lines_carry_the_job_and_user(aws: AwsStack) -> None:
    import io
    import logging

    from matchq.observability import logger

    job_id = submit(aws)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger._logger.addHandler(handler)
    try:

        def bad_input(*args: Any, **kwargs: Any) -> Any:
            raise InputFileError("file1 'customers.csv': row 2 is broken")

        complete(aws, job_id, bad_input)
    finally:
        logger._logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failed = next(line for line in lines if line["message"] == "job failed")
    assert failed["job_id"] == job_id and failed["user_id"] == "alice"


def test_a_job_whose_message_was_lost_is_sent_again(aws: AwsStack) -> None:
    job_id = submit(aws)
    aws.receive(2)  # the message is gone (lost, or dead-lettered)
    repo = JobRepository(aws.table_name)
    old = utcnow() - timedelta(hours=2)
    repo._table.put_item(Item=job_to_item(repo.get(job_id).model_copy(update={"queued_at": old})))
    assert maintenance().run().resent == [job_id]
    assert [json.loads(m["Body"])["job_id"] for m in aws.receive(2)] == [job_id]
    assert maintenance().run().resent == []  # stamped: not again until the next period
    assert complete(aws, job_id) is Outcome.COMPLETED


def test_a_recently_queued_job_is_not_sent_again(aws: AwsStack) -> None:
    submit(aws)
    assert maintenance().run().resent == []


def test_a_job_past_the_memory_limit_fails_with_a_readable_message(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matchq.settings import worker_settings

    job_id = submit(aws)
    checked = []

    def engine(*args: Any, should_cancel: Any, **kwargs: Any) -> Any:
        checked.append(should_cancel())  # the engine checks every few thousand rows
        return fake_engine(*args, should_cancel=should_cancel, **kwargs)

    monkeypatch.setenv("MATCHQ_MAX_JOB_MEMORY_MB", "64")  # this test process holds more
    worker_settings.cache_clear()
    try:
        assert complete(aws, job_id, engine) is Outcome.FAILED
    finally:
        monkeypatch.delenv("MATCHQ_MAX_JOB_MEMORY_MB")
        worker_settings.cache_clear()
    job = job_record(aws, job_id)
    assert job.error_message.startswith("The job needed more than 64 MB of memory (it reached ")
    assert "the limit is MATCHQ_MAX_JOB_MEMORY_MB" in job.error_message
    assert aws.keys(f"results/alice/{job_id}/") == [] and checked == []
    # with the limit from the function's memory size (as Lambda sets it) the job runs
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "10240")
    worker_settings.cache_clear()
    try:
        assert worker_settings().memory_limit_mb() == 9216
        assert complete(aws, submit(aws), engine) is Outcome.COMPLETED
    finally:
        worker_settings.cache_clear()
