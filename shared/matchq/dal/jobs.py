"""The jobs table. Every status change is one conditional write; losing a race returns None."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from matchq.errors import ValidationFailed
from matchq.models import (
    FINISHED_STATUSES,
    InputFile,
    Job,
    JobStatus,
    iso_precise,
    parse_ts,
)

if TYPE_CHECKING:
    from matchq.dal.events import JobEvents

BY_USER = "by-user"
BY_STATUS = "by-status"
BY_USER_STATUS = "by-user-status"
BY_CREATED = "by-created"
ENTITY = "job"
_TIMESTAMPS = (
    "created_at",
    "started_at",
    "completed_at",
    "heartbeat_at",
    "queued_at",
    "shards_started_at",
)
SHARDS = "shards"  # phase while a sharded job's shards run
MERGING = "merging"  # phase once its merge began


# What a run's shards wrote; a new run (claim, re-queue) starts without it.
_SHARD_STATE = (
    "shard_ranges",
    "shards_finished",
    "rows_done",
    "phase",
    "shards_started_at",
    "workers",
    "shard_rows",
)


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def job_to_item(job: Job) -> dict[str, Any]:
    item: dict[str, Any] = {
        "job_id": job.id,
        "entity": ENTITY,
        "name": job.name,
        "status": job.status.value,
        "priority": job.priority,
        "user_id": job.user_id,
        "user_status": f"{job.user_id}#{job.status.value}",
        "created_key": f"{iso_precise(job.created_at)}#{job.id}",
        "progress": job.progress,
        "message": job.message,
        "result_files": list(job.result_files),
        "result_bytes": job.result_bytes,
        "attempts": job.attempts,
        "config": json.dumps(job.config, separators=(",", ":")),
        "inputs": json.dumps([f.model_dump() for f in job.inputs], separators=(",", ":")),
    }
    for name in _TIMESTAMPS:
        ts = getattr(job, name)
        if ts is not None:
            item[name] = iso_precise(ts)
    for name in ("error_message", "estimated_remaining", "run_id", "phase"):
        value = getattr(job, name)
        if value is not None:
            item[name] = value
    if job.shard_ranges:
        item["shard_ranges"] = json.dumps(job.shard_ranges, separators=(",", ":"))
        item["rows_done"] = job.rows_done
    if job.shards_finished:
        item["shards_finished"] = set(job.shards_finished)
    if job.shard_ranges:
        item["shard_rows"] = {str(i): n for i, n in job.shard_rows.items()}
    if job.summary is not None:
        item["summary"] = json.dumps(job.summary, separators=(",", ":"))
    return item


def item_to_job(item: dict[str, Any]) -> Job:
    data = _plain(item)
    return Job(
        id=data["job_id"],
        name=data["name"],
        status=JobStatus(data["status"]),
        priority=data["priority"],
        user_id=data["user_id"],
        created_at=datetime.fromisoformat(data["created_at"].replace("Z", "+00:00")),
        started_at=parse_ts(data.get("started_at")),
        completed_at=parse_ts(data.get("completed_at")),
        heartbeat_at=parse_ts(data.get("heartbeat_at")),
        queued_at=parse_ts(data.get("queued_at")),
        progress=data.get("progress", 0),
        message=data.get("message", ""),
        error_message=data.get("error_message"),
        result_files=data.get("result_files", []),
        result_bytes=data.get("result_bytes", 0),
        estimated_remaining=data.get("estimated_remaining"),
        attempts=data.get("attempts", 0),
        run_id=data.get("run_id"),
        config=json.loads(data.get("config") or "{}"),
        inputs=[InputFile(**f) for f in json.loads(data.get("inputs") or "[]")],
        shard_ranges=[tuple(r) for r in json.loads(data.get("shard_ranges") or "[]")],
        shards_finished=frozenset(int(i) for i in data.get("shards_finished", ())),
        rows_done=data.get("rows_done", 0),
        shard_rows={int(i): int(n) for i, n in (data.get("shard_rows") or {}).items()},
        phase=data.get("phase"),
        shards_started_at=parse_ts(data.get("shards_started_at")),
        summary=json.loads(data["summary"]) if data.get("summary") else None,
    )


def encode_token(key: dict[str, Any]) -> str:
    raw = json.dumps(_plain(key), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, required: dict[str, str]) -> dict[str, Any]:
    """Decode a `next_token`; it must position the same query it came from."""
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("next_token is not valid") from exc
    if (
        not isinstance(key, dict)
        or not all(isinstance(v, str) for v in key.values())
        or any(key.get(k) != v for k, v in required.items())
        or "created_key" not in key
        or "job_id" not in key
    ):
        raise ValidationFailed("next_token is not valid for this query")
    return key


class JobRepository:
    """Jobs in DynamoDB, keyed by `job_id`, with indexes for listing and maintenance."""

    def __init__(
        self, table_name: str, resource: Any | None = None, events: JobEvents | None = None
    ) -> None:
        self._table = (resource or boto3.resource("dynamodb")).Table(table_name)
        # Told of every status change this repository writes (webhooks, EventBridge).
        self._events = events

    # --- single jobs -------------------------------------------------------------------

    def create(self, job: Job) -> None:
        self._table.put_item(Item=job_to_item(job), ConditionExpression=Attr("job_id").not_exists())

    def get(self, job_id: str) -> Job | None:
        item = self._table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
        return item_to_job(item) if item else None

    def _transition(
        self,
        job_id: str,
        *,
        condition: Any,
        set_values: dict[str, Any],
        remove: tuple[str, ...] = (),
        add: dict[str, int] | None = None,
    ) -> Job | None:
        """One conditional update; returns the new job, or None when the condition failed."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets = []
        for i, (attr, value) in enumerate(set_values.items()):
            names[f"#s{i}"] = attr
            values[f":s{i}"] = value
            sets.append(f"#s{i} = :s{i}")
        expression = "SET " + ", ".join(sets)
        if add:
            adds = []
            for i, (attr, amount) in enumerate(add.items()):
                names[f"#a{i}"] = attr
                values[f":a{i}"] = amount
                adds.append(f"#a{i} :a{i}")
            expression += " ADD " + ", ".join(adds)
        if remove:
            removes = []
            for i, attr in enumerate(remove):
                names[f"#r{i}"] = attr
                removes.append(f"#r{i}")
            expression += " REMOVE " + ", ".join(removes)
        try:
            result = self._table.update_item(
                Key={"job_id": job_id},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        job = item_to_job(result["Attributes"])
        if self._events is not None and "status" in set_values:
            # The one place every status change passes (claim, finish, fail, cancel, ...).
            self._events.changed(job)
        return job

    @staticmethod
    def _status_values(user_id: str, status: JobStatus) -> dict[str, Any]:
        return {"status": status.value, "user_status": f"{user_id}#{status.value}"}

    def claim(self, job: Job, run_id: str, now: datetime) -> Job | None:
        """pending -> running for this worker run."""
        return self._transition(
            job.id,
            condition=Attr("status").eq(JobStatus.PENDING.value),
            set_values={
                **self._status_values(job.user_id, JobStatus.RUNNING),
                "run_id": run_id,
                "started_at": iso_precise(now),
                "heartbeat_at": iso_precise(now),
                "progress": 0,
                "message": "Starting",
            },
            add={"attempts": 1},
            remove=("estimated_remaining", *_SHARD_STATE),
        )

    def report_progress(
        self,
        job_id: str,
        run_id: str,
        *,
        progress: int,
        message: str,
        estimated_remaining: int | None,
        now: datetime,
        forward_only: bool = False,
    ) -> Job | None:
        """Heartbeat of a running job; None when it is no longer this run's (e.g. cancelled)
        or, `forward_only` (shards report in any order), when it is past `progress`."""
        values: dict[str, Any] = {
            "progress": progress,
            "message": message,
            "heartbeat_at": iso_precise(now),
        }
        if estimated_remaining is not None:
            values["estimated_remaining"] = estimated_remaining
        condition = self._running(run_id)
        if forward_only:
            condition = condition & Attr("progress").lte(progress)
        return self._transition(job_id, condition=condition, set_values=values)

    # --- shards ---------------------------------------------------------------------------

    def _running(self, run_id: str) -> Any:
        return Attr("status").eq(JobStatus.RUNNING.value) & Attr("run_id").eq(run_id)

    def start_shards(
        self, job: Job, run_id: str, ranges: list[tuple[int, int]], *, now: datetime, message: str
    ) -> Job | None:
        """The run splits its job into shards of file1 rows (before any shard is queued)."""
        return self._transition(
            job.id,
            condition=self._running(run_id) & Attr("phase").not_exists(),
            set_values={
                "shard_ranges": json.dumps(ranges, separators=(",", ":")),
                "rows_done": 0,
                "shard_rows": {},
                "phase": SHARDS,
                "shards_started_at": iso_precise(now),
                "heartbeat_at": iso_precise(now),
                "message": message,
            },
        )

    def heartbeat(
        self,
        job_id: str,
        run_id: str,
        *,
        now: datetime,
        shard: int | None = None,
        rows: int | None = None,
    ) -> Job | None:
        """A shard or merge of this run is alive; None when the run no longer holds the job.
        With `shard` and `rows`: that shard has matched `rows` of its file1 rows so far."""
        if shard is None or rows is None:
            return self._transition(
                job_id,
                condition=self._running(run_id),
                set_values={"heartbeat_at": iso_precise(now)},
            )
        try:
            result = self._table.update_item(
                Key={"job_id": job_id},
                UpdateExpression="SET heartbeat_at = :now, shard_rows.#shard = :rows",
                ConditionExpression=self._running(run_id) & Attr("shard_rows").exists(),
                ExpressionAttributeNames={"#shard": str(shard)},
                ExpressionAttributeValues={":now": iso_precise(now), ":rows": rows},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _conditional_failed(exc):  # lost the job, or a run split without shard_rows
                return self.heartbeat(job_id, run_id, now=now)
            raise
        return item_to_job(result["Attributes"])

    def finish_shard(
        self, job_id: str, run_id: str, shard: int, rows: int, *, now: datetime
    ) -> Job | None:
        """Count a shard as done, once: None when the run no longer holds the job, when the
        merge began, or when this shard was counted already (a duplicate delivery)."""
        try:
            result = self._table.update_item(
                Key={"job_id": job_id},
                UpdateExpression=(
                    "ADD shards_finished :one_shard, rows_done :rows SET heartbeat_at = :now"
                ),
                ConditionExpression=(
                    self._running(run_id)
                    & Attr("phase").eq(SHARDS)
                    & ~Attr("shards_finished").contains(shard)
                ),
                ExpressionAttributeValues={
                    ":one_shard": {shard},
                    ":rows": rows,
                    ":now": iso_precise(now),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        return item_to_job(result["Attributes"])

    def add_worker(self, job_id: str, run_id: str, delta: int) -> None:
        """Count a shard or merge invocation of this run as running (+1) or done (-1)."""
        try:
            self._table.update_item(
                Key={"job_id": job_id},
                UpdateExpression="ADD #w :d",
                ConditionExpression=self._running(run_id),
                ExpressionAttributeNames={"#w": "workers"},
                ExpressionAttributeValues={":d": delta},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def active_workers(self, *, user_id: str | None) -> int:
        """Running worker invocations: one per running job in one piece (or still being
        planned), and the shard and merge invocations of sharded ones."""
        key: Any
        if user_id is None:
            index, key = BY_STATUS, Key("status").eq(JobStatus.RUNNING.value)
        else:
            index, key = (
                BY_USER_STATUS,
                Key("user_status").eq(f"{user_id}#{JobStatus.RUNNING.value}"),
            )
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": key,
            "ProjectionExpression": "#p, #w",
            "ExpressionAttributeNames": {"#p": "phase", "#w": "workers"},
        }
        total = 0
        while True:
            result = self._table.query(**kwargs)
            for item in result.get("Items", []):
                total += max(0, int(_plain(item.get("workers", 0)))) if "phase" in item else 1
            if "LastEvaluatedKey" not in result:
                return total
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def start_merge(self, job: Job, run_id: str, *, now: datetime) -> Job | None:
        """The merge of a run whose shards are all done begins (once per run)."""
        return self._transition(
            job.id,
            condition=self._running(run_id)
            & Attr("phase").eq(SHARDS)
            & Attr("shards_finished").size().eq(len(job.shard_ranges)),
            set_values={"phase": MERGING, "heartbeat_at": iso_precise(now)},
        )

    def restart_merge(self, job: Job, *, now: datetime) -> Job | None:
        """A merge whose worker went silent may begin again (the reaper's move)."""
        assert job.run_id is not None
        return self._transition(
            job.id,
            condition=self._running(job.run_id) & Attr("phase").eq(MERGING),
            set_values={"phase": SHARDS, "heartbeat_at": iso_precise(now)},
        )

    def finish(
        self,
        job: Job,
        run_id: str | None,
        status: JobStatus,
        *,
        now: datetime,
        message: str,
        error_message: str | None = None,
        result_files: list[str] | None = None,
        result_bytes: int = 0,
        expires_at: int | None = None,
        summary: dict[str, Any] | None = None,
    ) -> Job | None:
        """running -> completed | failed (only by the run holding it, when run_id is given);
        `summary`: the counts of summary.json (the job object's `summary`)."""
        condition: Any = Attr("status").eq(JobStatus.RUNNING.value)
        if run_id is not None:
            condition = condition & Attr("run_id").eq(run_id)
        values: dict[str, Any] = {
            **self._status_values(job.user_id, status),
            "completed_at": iso_precise(now),
            "message": message,
            "result_files": result_files or [],
            "result_bytes": result_bytes,
        }
        if status is JobStatus.COMPLETED:
            values["progress"] = 100
            values["estimated_remaining"] = 0
        if error_message is not None:
            values["error_message"] = error_message
        if expires_at is not None:
            values["expires_at"] = expires_at
        if summary is not None:
            values["summary"] = json.dumps(summary, separators=(",", ":"))
        return self._transition(job.id, condition=condition, set_values=values)

    def fail_pending(self, job: Job, *, now: datetime, error_message: str) -> Job | None:
        """pending -> failed, for a job that can never run (e.g. its message went bad)."""
        return self._transition(
            job.id,
            condition=Attr("status").eq(JobStatus.PENDING.value),
            set_values={
                **self._status_values(job.user_id, JobStatus.FAILED),
                "completed_at": iso_precise(now),
                "message": "Job failed",
                "error_message": error_message,
            },
        )

    def cancel(self, job: Job, *, now: datetime, message: str) -> Job | None:
        """pending | running -> cancelled."""
        return self._transition(
            job.id,
            condition=Attr("status").is_in([JobStatus.PENDING.value, JobStatus.RUNNING.value]),
            set_values={
                **self._status_values(job.user_id, JobStatus.CANCELLED),
                "completed_at": iso_precise(now),
                "message": message,
            },
            remove=("estimated_remaining",),
        )

    def requeue(self, job: Job, *, now: datetime, message: str) -> Job | None:
        """running -> pending for a run whose heartbeat stopped (the same run only)."""
        assert job.run_id is not None
        return self._transition(
            job.id,
            condition=Attr("status").eq(JobStatus.RUNNING.value) & Attr("run_id").eq(job.run_id),
            set_values={
                **self._status_values(job.user_id, JobStatus.PENDING),
                "queued_at": iso_precise(now),
                "message": message,
                "progress": 0,
            },
            remove=("run_id", "started_at", "heartbeat_at", "estimated_remaining", *_SHARD_STATE),
        )

    def mark_requeued(self, job: Job, *, now: datetime) -> Job | None:
        """A pending job's message is sent again: stamp `queued_at` (only if still pending
        and nobody stamped it since)."""
        assert job.queued_at is not None
        return self._transition(
            job.id,
            condition=Attr("status").eq(JobStatus.PENDING.value)
            & Attr("queued_at").eq(iso_precise(job.queued_at)),
            set_values={"queued_at": iso_precise(now)},
        )

    def delete_finished(self, job: Job) -> bool:
        """Remove a finished job's record; False when it is not finished (any more)."""
        try:
            self._table.delete_item(
                Key={"job_id": job.id},
                ConditionExpression=Attr("status").is_in([s.value for s in FINISHED_STATUSES]),
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def delete_pending(self, job: Job) -> bool:
        """Remove a job that never ran, e.g. when it could not be queued."""
        try:
            self._table.delete_item(
                Key={"job_id": job.id},
                ConditionExpression=Attr("status").eq(JobStatus.PENDING.value),
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    # --- queries -----------------------------------------------------------------------

    def list_page(
        self,
        *,
        user_id: str | None,
        status: JobStatus | None,
        limit: int,
        next_token: str | None,
    ) -> tuple[list[Job], str | None]:
        """One page, newest first, and the token of the next page (None at the end)."""
        if user_id is not None and status is not None:
            index, partition = BY_USER_STATUS, ("user_status", f"{user_id}#{status.value}")
        elif user_id is not None:
            index, partition = BY_USER, ("user_id", user_id)
        elif status is not None:
            index, partition = BY_STATUS, ("status", status.value)
        else:
            index, partition = BY_CREATED, ("entity", ENTITY)
        # Ask for one item more than the page: it tells whether a next page exists without a
        # second query, and the page's last item positions the next one.
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": Key(partition[0]).eq(partition[1]),
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = decode_token(next_token, {partition[0]: partition[1]})
        items: list[dict[str, Any]] = []
        while len(items) <= limit:
            result = self._table.query(**kwargs)
            items.extend(result.get("Items", []))
            if "LastEvaluatedKey" not in result:
                break
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]
            kwargs["Limit"] = limit + 1 - len(items)
        jobs = [item_to_job(item) for item in items[:limit]]
        if len(items) <= limit:
            return jobs, None
        last = items[limit - 1]
        position = {name: last[name] for name in ("job_id", "created_key", partition[0])}
        return jobs, encode_token(position)

    def count(self, *, user_id: str | None, status: JobStatus) -> int:
        key: Any
        if user_id is None:
            index, key = BY_STATUS, Key("status").eq(status.value)
        else:
            index, key = BY_USER_STATUS, Key("user_status").eq(f"{user_id}#{status.value}")
        total = 0
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": key,
            "Select": "COUNT",
        }
        while True:
            result = self._table.query(**kwargs)
            total += int(result.get("Count", 0))
            if "LastEvaluatedKey" not in result:
                return total
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def _count(self, **kwargs: Any) -> int:
        total = 0
        kwargs = {"IndexName": BY_STATUS, "Select": "COUNT", **kwargs}
        while True:
            result = self._table.query(**kwargs)
            total += int(result.get("Count", 0))
            if "LastEvaluatedKey" not in result:
                return total
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    def queue_position(self, job: Job) -> int | None:
        """1 + the pending jobs of all users that start before `job` (a higher priority,
        or the same one and created earlier); None unless `job` is pending. Two COUNT
        queries of the by-status index, never a scan."""
        if job.status is not JobStatus.PENDING:
            return None
        pending = Key("status").eq(JobStatus.PENDING.value)
        higher = self._count(
            KeyConditionExpression=pending, FilterExpression=Attr("priority").gt(job.priority)
        )
        older = self._count(
            KeyConditionExpression=pending
            & Key("created_key").lt(f"{iso_precise(job.created_at)}#{job.id}"),
            FilterExpression=Attr("priority").eq(job.priority),
        )
        return 1 + higher + older

    def by_status(
        self,
        status: JobStatus,
        *,
        user_id: str | None = None,
        created_before: datetime | None = None,
    ) -> Iterator[Job]:
        """Every job in a status (optionally one user's, created before a time), oldest first."""
        key: Any
        if user_id is None:
            index, key = BY_STATUS, Key("status").eq(status.value)
        else:
            index, key = BY_USER_STATUS, Key("user_status").eq(f"{user_id}#{status.value}")
        if created_before is not None:
            key = key & Key("created_key").lt(iso_precise(created_before))
        kwargs: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": key}
        while True:
            result = self._table.query(**kwargs)
            for item in result.get("Items", []):
                yield item_to_job(item)
            if "LastEvaluatedKey" not in result:
                return
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]
