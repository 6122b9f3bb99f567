"""What travels on the job queues, as typed models (sent by `matchq.dal.queues`, read by the
worker through Powertools' parser)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json


class JobMessage(BaseModel):
    """Run this job (its record in the table says everything else)."""

    model_config = ConfigDict(frozen=True)

    job_id: str = Field(pattern=r"^job_[0-9a-f-]{36}$")
    priority: int = Field(ge=1, le=4)


class JobRecord(SqsRecordModel):
    """An SQS record whose body is a JobMessage; a body that is not fails its record."""

    body: Json[JobMessage]  # type: ignore[assignment]
