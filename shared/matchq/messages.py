"""What travels on the job queues, as typed models (sent by `matchq.dal.queues`, read by the
worker through Powertools' parser)."""

from __future__ import annotations

from enum import StrEnum

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json, model_validator


class MessageKind(StrEnum):
    """What a message asks the worker to do with its job."""

    JOB = "job"  # claim the pending job and run it (planning shards if it is big)
    SHARD = "shard"  # match one shard of a running, sharded job
    MERGE = "merge"  # merge the finished shards of a running job into its results


class JobMessage(BaseModel):
    """Work on this job (its record in the table says everything else).

    Shard and merge messages name the run they belong to: a message of an earlier run
    (the job was re-queued, cancelled or deleted since) changes nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(pattern=r"^job_[0-9a-f-]{36}$")
    priority: int = Field(ge=1, le=4)
    kind: MessageKind = MessageKind.JOB
    run_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    shard: int | None = Field(default=None, ge=0)
    attempt: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _names_its_run(self) -> JobMessage:
        if self.kind is not MessageKind.JOB and self.run_id is None:
            raise ValueError(f"a {self.kind.value} message needs run_id")
        if (self.kind is MessageKind.SHARD) != (self.shard is not None):
            raise ValueError("shard is given exactly for shard messages")
        return self


class JobRecord(SqsRecordModel):
    """An SQS record whose body is a JobMessage; a body that is not fails its record."""

    body: Json[JobMessage]  # type: ignore[assignment]
