"""Who created each upload: one small item per file id in the jobs table.

The item is keyed by the table's hash key `job_id` holding the file id (`file_<uuid4>`,
never a job id, which is `job_<uuid4>`). It carries none of the attributes the table's
indexes are keyed on (`user_id`, `status`, `user_status`, `entity`, `created_key`), so no
index holds it and no job listing, count or maintenance query can return it; the owner is
`owner`, not `user_id`, for that reason. `expires_at` is the table's TTL attribute: the
item outlives the longest upload retention (`UploadRetentionDays` is at most 365).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr

from matchq.models import iso_precise

RECORD = "upload"  # the `record` attribute of every file item
TTL = timedelta(days=400)


@dataclass(frozen=True)
class FileRecord:
    file_id: str
    user_id: str
    filename: str
    created_at: datetime


class FileRecords:
    """File ownership records in the jobs table (`put` once per file id, `get`)."""

    def __init__(self, table_name: str, resource: Any | None = None) -> None:
        self._table = (resource or boto3.resource("dynamodb")).Table(table_name)

    def put(self, file_id: str, user_id: str, filename: str, created_at: datetime) -> None:
        self._table.put_item(
            Item={
                "job_id": file_id,
                "record": RECORD,
                "owner": user_id,
                "filename": filename,
                "created_at": iso_precise(created_at),
                "expires_at": int((created_at + TTL).timestamp()),
            },
            ConditionExpression=Attr("job_id").not_exists(),
        )

    def get(self, file_id: str) -> FileRecord | None:
        item = self._table.get_item(Key={"job_id": file_id}, ConsistentRead=True).get("Item")
        if not item or item.get("record") != RECORD:
            return None
        return FileRecord(
            file_id=file_id,
            user_id=str(item["owner"]),
            filename=str(item["filename"]),
            created_at=datetime.fromisoformat(str(item["created_at"]).replace("Z", "+00:00")),
        )
