"""The data bucket: uploads/<user>/<file_id>/<name> and results/<user>/<job_id>/<name>."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
from botocore.exceptions import ClientError


def user_segment(user_id: str) -> str:
    """A user id as one safe key segment (no '/', no '..' tricks)."""
    segment = quote(user_id, safe="@+=")
    return segment.replace(".", "%2E") if set(segment) == {"."} else segment


def upload_prefix(user_id: str, file_id: str) -> str:
    return f"uploads/{user_segment(user_id)}/{file_id}/"


def results_prefix(user_id: str, job_id: str) -> str:
    return f"results/{user_segment(user_id)}/{job_id}/"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


class Storage:
    """Presigned uploads and downloads, reads of inputs, writes and deletes of results."""

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client or boto3.client("s3")

    def presigned_upload(self, key: str, max_bytes: int, expires_in: int) -> dict[str, Any]:
        """A presigned POST whose policy caps the size at `max_bytes`."""
        post: dict[str, Any] = self._client.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return post

    def presigned_download(self, key: str, expires_in: int, filename: str) -> str:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_in,
        )
        return url

    def browser_origins(self) -> list[str]:
        """The origins (`scheme://host[:port]`) of this bucket's presigned uploads and
        downloads: what a browser page must be allowed to connect to (the web console's
        Content-Security-Policy). Presigning happens here, without a request."""
        post = self._client.generate_presigned_post(
            Bucket=self.bucket, Key="uploads/origin-probe", ExpiresIn=60
        )
        get = self.presigned_download("results/origin-probe", 60, "origin-probe")
        return sorted({_origin(post["url"]), _origin(get)})

    def list_prefix(self, prefix: str) -> list[StoredObject]:
        objects: list[StoredObject] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                objects.append(StoredObject(key=obj["Key"], size_bytes=int(obj["Size"])))
        return objects

    def read_head(self, key: str, max_bytes: int) -> bytes:
        """The first `max_bytes` bytes of an object."""
        body = self._client.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}"
        )
        data: bytes = body["Body"].read()
        return data

    def download(self, key: str, path: Path) -> None:
        self._client.download_file(self.bucket, key, str(path))

    def upload(self, path: Path, key: str, content_type: str = "application/json") -> None:
        self._client.upload_file(
            str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}
        )

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`; returns the bytes freed."""
        objects = self.list_prefix(prefix)
        freed = 0
        for start in range(0, len(objects), 1000):
            batch = objects[start : start + 1000]
            self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": o.key} for o in batch], "Quiet": True},
            )
            freed += sum(o.size_bytes for o in batch)
        return freed

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True
