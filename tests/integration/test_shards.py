"""Big jobs as shards on the queues: the real engine, moto's SQS, DynamoDB and S3.

Every shard and merge message is handled by a JobRunner as the worker Lambda would, in an
order the test picks, duplicates included; the results must equal a one-piece run's.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from matchq.dal.storage import results_prefix
from matchq.messages import JobMessage, MessageKind
from matchq.models import JobStatus
from matchq.services.outcomes import Outcome
from matchq.settings import forget_settings
from tests.support import (
    AwsStack,
    api_event,
    call,
    comparable,
    job_record,
    match_config,
    message,
    runner,
)

FIRST = ["Jon", "Maria", "Wei", "Peter", "Ann", "Olga", "Raj", "Lena", "Tom", "Ivy", "Sam"]
LAST = ["Smith", "Garcia", "Zhang", "Parker", "Lee", "Novak", "Patel", "Berg", "Ford", "Chen"]


def people(seed: int, rows: int, header: str) -> str:
    rng = random.Random(seed)
    lines = [header]
    for i in range(rows):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if rng.random() < 0.3:  # a typo
            at = rng.randrange(len(name))
            name = name[:at] + "x" + name[at + 1 :]
        city = "" if rng.random() < 0.2 else rng.choice(["Oslo", "Rome", "Lima"])
        lines.append(f"{name},{city},{i}")
    return "\n".join(lines) + "\n"


def submit_big(aws: AwsStack, user: str = "alice", **config: Any) -> str:
    f1 = aws.upload(user, "left.csv", people(1, 23, "name,city,id"))
    f2 = aws.upload(user, "right.csv", people(2, 19, "full_name,town,ref"))
    body = {
        "name": "big",
        "config": match_config(
            f1,
            f2,
            mappings=[
                {"file1_col": "name", "file2_col": "full_name", "scorer": "ratio", "weight": 2},
                {"file1_col": "city", "file2_col": "town", "match_type": "exact"},
            ],
            output_cols1=["name", "id"],
            output_cols2=["full_name", "ref"],
            threshold=60,
            **config,
        ),
    }
    status, answer, _ = call("submit_job", api_event("submit_job", user=user, body=body))
    assert status == 200, answer
    return str(answer["job_id"])


def shard_settings(monkeypatch: pytest.MonkeyPatch, rows: int, max_shards: int = 1000) -> None:
    monkeypatch.setenv("MATCHQ_SHARD_ROWS", str(rows))
    monkeypatch.setenv("MATCHQ_MAX_SHARDS", str(max_shards))
    forget_settings()


Shards = list[tuple[JobMessage, int]]


def queued(aws: AwsStack, priority: int = 2) -> Shards:
    """Every message now on the queue (deleted from it), with its receive count."""
    sqs = aws.session.client("sqs")
    out = []
    while batch := aws.receive(priority):
        for received in batch:
            out.append(
                (
                    JobMessage.model_validate_json(received["Body"]),
                    int(received["Attributes"]["ApproximateReceiveCount"]),
                )
            )
            sqs.delete_message(
                QueueUrl=aws.queue_url(priority), ReceiptHandle=received["ReceiptHandle"]
            )
    return out


def split(aws: AwsStack, monkeypatch: pytest.MonkeyPatch, rows: int) -> tuple[str, Any, Shards]:
    """Submit the big job with shards of `rows`, let a worker claim and split it; returns
    the job id, the worker and the shard messages taken off the queue."""
    shard_settings(monkeypatch, rows)
    job_id = submit_big(aws)
    worker = runner(engine=None)
    ((first, _),) = queued(aws)
    assert worker.handle(first) == Outcome.SHARDED
    return job_id, worker, queued(aws)


def drain(aws: AwsStack, seed: int = 0, duplicate: bool = False) -> list[Outcome]:
    """Handle queued messages in a shuffled order (each twice with `duplicate`) until none
    is left; returns the outcomes."""
    rng = random.Random(seed)
    worker = runner(engine=None)
    outcomes = []
    while batch := queued(aws):
        if duplicate:
            batch = batch + batch
        rng.shuffle(batch)
        for msg, count in batch:
            outcomes.append(worker.handle(msg, receive_count=count))
    return outcomes


def results(aws: AwsStack, job_id: str) -> dict[str, Any]:
    """The job's result files by name (summary.json without its timings)."""
    job = job_record(aws, job_id)
    s3 = aws.session.client("s3")
    prefix = results_prefix(job.user_id, job_id)
    return comparable(
        {
            name: s3.get_object(Bucket=aws.bucket, Key=prefix + name)["Body"].read()
            for name in job.result_files
        }
    )


def one_piece(aws: AwsStack, monkeypatch: pytest.MonkeyPatch, **config: Any) -> dict[str, Any]:
    shard_settings(monkeypatch, 0, max_shards=1)
    job_id = submit_big(aws, **config)
    assert drain(aws) == [Outcome.COMPLETED]
    return results(aws, job_id)


@pytest.mark.parametrize("mode", ["best", "all", "one_to_one"])
def test_a_sharded_job_writes_what_a_one_piece_run_writes(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    expected = one_piece(aws, monkeypatch, match_mode=mode)
    shard_settings(monkeypatch, 4)
    job_id = submit_big(aws, match_mode=mode)
    outcomes = drain(aws, seed=len(mode))
    assert outcomes.count(Outcome.SHARDED) == 1
    assert outcomes.count(Outcome.SHARD_DONE) == 6  # 23 rows in shards of 4
    assert outcomes[-1] == Outcome.COMPLETED
    job = job_record(aws, job_id)
    assert job.status is JobStatus.COMPLETED
    assert job.to_api().shards_total == 6 and job.to_api().shards_done == 6
    assert job.progress == 100
    assert results(aws, job_id) == expected
    # the shared and partial files are gone; only the results remain
    prefix = results_prefix("alice", job_id)
    assert sorted(aws.keys(prefix)) == sorted(prefix + n for n in job.result_files)


def test_duplicate_shard_and_merge_messages_change_nothing(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = one_piece(aws, monkeypatch)
    shard_settings(monkeypatch, 5)
    job_id = submit_big(aws)
    outcomes = drain(aws, seed=7, duplicate=True)
    assert outcomes.count(Outcome.SHARD_DONE) == 5
    assert outcomes.count(Outcome.COMPLETED) == 1
    assert set(outcomes) <= {
        Outcome.SHARDED,
        Outcome.NOT_PENDING,
        Outcome.CLAIMED_ELSEWHERE,
        Outcome.SHARD_DONE,
        Outcome.DUPLICATE,
        Outcome.STALE,
        Outcome.COMPLETED,
    }
    assert results(aws, job_id) == expected


def test_max_shards_caps_the_split(aws: AwsStack, monkeypatch: pytest.MonkeyPatch) -> None:
    shard_settings(monkeypatch, 1, max_shards=3)
    job_id = submit_big(aws)
    drain(aws)
    job = job_record(aws, job_id)
    assert job.status is JobStatus.COMPLETED
    assert job.shards_total == 3


def test_cancel_during_shards_stops_them_and_leaves_no_files(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, worker, shards = split(aws, monkeypatch, 4)
    assert [m.kind for m, _ in shards] == [MessageKind.SHARD] * 6
    assert worker.handle(shards[0][0]) == Outcome.SHARD_DONE
    status, _, _ = call("cancel_job", api_event("cancel_job", user="alice", job_id=job_id))
    assert status == 200
    prefix = results_prefix("alice", job_id)
    assert len(aws.keys(prefix)) == 2  # the prepared job and one partial result
    # the next shard sees the cancel and removes what the run stored; none matches again
    assert {worker.handle(m) for m, _ in shards[1:]} == {Outcome.CANCELLED}
    assert queued(aws) == []
    assert job_record(aws, job_id).status is JobStatus.CANCELLED
    assert aws.keys(prefix) == []


def test_a_failing_shard_is_retried_then_fails_the_job_naming_it(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, worker, shards = split(aws, monkeypatch, 4)
    calls = {"n": 0}

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("matchq.matching.shards.run_shard", broken)
    target = next(m for m, _ in shards if m.shard == 2)
    assert worker.handle(target) == Outcome.RETRIED
    (again,) = [m for m, _ in queued(aws)]
    assert again.shard == 2 and again.attempt == 2
    assert worker.handle(again) == Outcome.RETRIED
    (last,) = [m for m, _ in queued(aws)]
    from matchq.observability import metrics

    metrics.clear_metrics()
    assert worker.handle(last) == Outcome.FAILED  # MaxAttempts is 3
    assert "ShardFailures" in metrics.metric_set  # what the ShardFailures alarm watches
    assert calls["n"] == 3
    job = job_record(aws, job_id)
    assert job.status is JobStatus.FAILED
    assert job.error_message.startswith("The shard 3 of 6 (file1 rows 8 to 11) failed 3 times")
    assert aws.keys(results_prefix("alice", job_id)) == []


def test_deleting_a_sharded_job_removes_every_partial_file(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, worker, shards = split(aws, monkeypatch, 4)
    for msg, _ in shards[:3]:
        worker.handle(msg)
    prefix = results_prefix("alice", job_id)
    assert len(aws.keys(prefix)) == 4  # the prepared job and three partial results
    call("cancel_job", api_event("cancel_job", user="alice", job_id=job_id))
    status, _, _ = call("delete_job", api_event("delete_job", user="alice", job_id=job_id))
    assert status == 200
    assert aws.keys(prefix) == []


def test_a_small_job_stays_one_shard(aws: AwsStack, monkeypatch: pytest.MonkeyPatch) -> None:
    shard_settings(monkeypatch, 0)  # the planner's estimate: 23 rows are one shard
    job_id = submit_big(aws)
    assert drain(aws) == [Outcome.COMPLETED]
    view = job_record(aws, job_id).to_api()
    assert (view.shards_total, view.shards_done) == (1, 1)
    assert message(job_id).kind is MessageKind.JOB


def test_a_lost_merge_message_is_queued_again_by_a_redelivered_shard(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = one_piece(aws, monkeypatch)
    job_id, worker, shards = split(aws, monkeypatch, 8)
    assert {worker.handle(m) for m, _ in shards} == {Outcome.SHARD_DONE}
    assert [m.kind for m, _ in queued(aws)] == [MessageKind.MERGE]  # and now it is lost
    assert worker.handle(shards[0][0], receive_count=2) == Outcome.DUPLICATE
    assert drain(aws) == [Outcome.COMPLETED]
    assert results(aws, job_id) == expected


def test_the_reaper_resends_what_a_silent_sharded_run_needs_without_starting_over(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from matchq.models import utcnow
    from matchq.services.wiring import maintenance

    expected = one_piece(aws, monkeypatch)
    job_id, worker, shards = split(aws, monkeypatch, 4)  # every shard message lost
    worker.handle(shards[0][0])
    before = job_record(aws, job_id)
    reaper = maintenance()
    reaper.clock = lambda: utcnow() + timedelta(hours=1)
    assert reaper.reap_stale_jobs() == ([], [])
    after = job_record(aws, job_id)
    assert after.status is JobStatus.RUNNING and after.run_id == before.run_id
    assert sorted(m.shard for m, _ in queued_keep(aws)) == [1, 2, 3, 4, 5]
    drain(aws)
    assert job_record(aws, job_id).status is JobStatus.COMPLETED
    assert job_record(aws, job_id).attempts == 1  # one run, never started over
    assert results(aws, job_id) == expected


def queued_keep(aws: AwsStack, priority: int = 2) -> list[tuple[JobMessage, int]]:
    """The messages on the queue, left there (visible again at once)."""
    sqs = aws.session.client("sqs")
    out = []
    handles = []
    while batch := aws.receive(priority):
        for received in batch:
            out.append((JobMessage.model_validate_json(received["Body"]), 0))
            handles.append(received["ReceiptHandle"])
    for handle in handles:
        sqs.change_message_visibility(
            QueueUrl=aws.queue_url(priority), ReceiptHandle=handle, VisibilityTimeout=0
        )
    return out


def test_active_workers_counts_running_shard_invocations(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matchq.matching.shards as engine_shards

    job_id, worker, shards = split(aws, monkeypatch, 4)

    def stats() -> int:
        status, body, _ = call("job_stats", api_event("job_stats", user="alice"))
        assert status == 200
        return int(body["active_workers"])

    assert stats() == 0  # split, nothing running: the shards wait on the queue
    seen = []
    real = engine_shards.run_shard

    def nested(*args: Any, **kwargs: Any) -> Any:
        seen.append(stats())
        if len(seen) == 1:  # a second shard runs while the first one does
            worker.handle(shards[1][0])
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_shards, "run_shard", nested)
    assert worker.handle(shards[0][0]) == Outcome.SHARD_DONE
    assert seen == [1, 2]
    assert stats() == 0
    assert job_record(aws, job_id).status is JobStatus.RUNNING


def test_progress_and_eta_move_with_the_rows_running_shards_match(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matchq.matching.shards as engine_shards

    monkeypatch.setenv("MATCHQ_HEARTBEAT_INTERVAL_SECONDS", "0")
    job_id, worker, shards = split(aws, monkeypatch, 10)  # 23 rows: 10, 10, 3
    real = engine_shards.run_shard
    seen: list[tuple[int, str, int | None]] = []

    def row_by_row(*args: Any, **kwargs: Any) -> Any:
        on_rows = kwargs["on_rows"]

        def observed(rows: int) -> None:
            on_rows(rows)
            job = job_record(aws, job_id)
            seen.append((job.progress, job.message, job.estimated_remaining))

        return real(*args, **{**kwargs, "on_rows": observed, "chunk_rows": 1})

    monkeypatch.setattr(engine_shards, "run_shard", row_by_row)
    assert worker.handle(shards[1][0]) == Outcome.SHARD_DONE
    # Within the shard (the row before each read was reported by the beat of the next
    # chunk): progress over 10..90 % by rows, never backwards, with an ETA.
    progress = [p for p, _, _ in seen]
    assert progress == sorted(progress)
    assert progress[0] == 10 and progress[-1] == 10 + 80 * 9 // 23
    assert "Matched 0 of 3 shards (9 of 23 rows)" in [m for _, m, _ in seen]
    assert all(eta is not None for p, _, eta in seen if p > 10)
    finished = job_record(aws, job_id)
    assert (finished.progress, finished.message) == (
        10 + 80 * 10 // 23,
        "Matched 1 of 3 shards (10 of 23 rows)",
    )
    # the next shard's rows add to the finished one's
    assert worker.handle(shards[2][0]) == Outcome.SHARD_DONE
    assert job_record(aws, job_id).message == "Matched 2 of 3 shards (13 of 23 rows)"


def test_a_shard_that_fails_once_succeeds_on_retry_with_exact_results(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matchq.matching.shards as engine_shards

    expected = one_piece(aws, monkeypatch)
    job_id, worker, shards = split(aws, monkeypatch, 4)
    real = engine_shards.run_shard
    failures = []

    def flaky(job: Any, start: int, stop: int, *args: Any, **kwargs: Any) -> Any:
        if start == 8 and not failures:
            failures.append(start)
            raise OSError("the disk filled up")
        return real(job, start, stop, *args, **kwargs)

    monkeypatch.setattr(engine_shards, "run_shard", flaky)
    outcomes = [worker.handle(m) for m, _ in shards]
    assert outcomes.count(Outcome.RETRIED) == 1 and failures == [8]
    assert drain(aws) == [Outcome.SHARD_DONE, Outcome.COMPLETED]  # the retry, then the merge
    assert results(aws, job_id) == expected
    assert aws.keys(results_prefix("alice", job_id) + "_shards/") == []


def test_cancel_during_the_merge_stops_it_and_leaves_no_files(
    aws: AwsStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matchq.matching.shards as engine_shards

    monkeypatch.setenv("MATCHQ_HEARTBEAT_INTERVAL_SECONDS", "0")
    job_id, worker, shards = split(aws, monkeypatch, 4)
    assert {worker.handle(m) for m, _ in shards} == {Outcome.SHARD_DONE}
    ((merge, _),) = queued(aws)
    real = engine_shards.merge_shards

    def cancelled_meanwhile(*args: Any, **kwargs: Any) -> Any:
        status, _, _ = call("cancel_job", api_event("cancel_job", user="alice", job_id=job_id))
        assert status == 200
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_shards, "merge_shards", cancelled_meanwhile)
    assert worker.handle(merge) == Outcome.CANCELLED
    job = job_record(aws, job_id)
    assert job.status is JobStatus.CANCELLED and job.result_files == []
    assert aws.keys(results_prefix("alice", job_id)) == []
    assert worker.handle(merge, receive_count=2) == Outcome.CANCELLED  # a redelivery too
