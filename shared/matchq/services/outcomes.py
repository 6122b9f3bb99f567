"""What handling one queue message did (the worker logs it with every message)."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """What handling one job, shard or merge message did."""

    COMPLETED = "completed"  # results stored, the job completed
    FAILED = "failed"  # the job ended failed (bad input, a crash, the time limit)
    CANCELLED = "cancelled"  # cancelled while running; partial results removed
    REQUEUED = "requeued"  # a service error: queued again for another attempt
    POISONED = "poisoned"  # earlier deliveries kept dying: the pending job was failed
    NOT_PENDING = "not pending"  # a duplicate or late delivery: the job had moved on
    CLAIMED_ELSEWHERE = "claimed elsewhere"  # another delivery won the claim
    LOST = "lost"  # the run lost the job to the reaper, which queued it again
    GONE = "gone"  # no such job (deleted)
    SHARDED = "sharded"  # the job was split: its shard messages are queued
    SHARD_DONE = "shard done"  # one shard's partial result stored and counted
    DUPLICATE = "duplicate"  # this shard or merge was done (or is being done) already
    STALE = "stale"  # a shard or merge message of a run that no longer holds the job
    RETRIED = "retried"  # a shard or merge failed and was queued again
