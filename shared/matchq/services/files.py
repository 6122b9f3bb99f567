"""Uploads: a file id and a presigned POST whose policy caps the size."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

from matchq.auth import Principal
from matchq.dal.storage import Storage, upload_prefix
from matchq.errors import ValidationFailed
from matchq.formats import SUPPORTED_EXTENSIONS
from matchq.settings import ApiSettings

_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+-]+")


def sanitize_filename(filename: str) -> str:
    """The last path segment, in safe characters, with a supported extension."""
    name = unicodedata.normalize("NFKC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    if not name:
        raise ValidationFailed("filename: must name a file, e.g. 'customers.csv'")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or f".{ext.lower()}" not in SUPPORTED_EXTENSIONS:
        allowed = ", ".join(SUPPORTED_EXTENSIONS)
        raise ValidationFailed(
            f"filename: unsupported file type '{filename}'; use one of {allowed}"
        )
    return f"{stem[:200]}.{ext.lower()}"


class FileService:
    def __init__(self, storage: Storage, settings: ApiSettings) -> None:
        self.storage = storage
        self.settings = settings

    def create_upload(self, principal: Principal, filename: str) -> dict[str, Any]:
        name = sanitize_filename(filename)
        file_id = f"file_{uuid.uuid4()}"
        key = upload_prefix(principal.user_id, file_id) + name
        expires = self.settings.presign_expires_seconds
        upload = self.storage.presigned_upload(key, self.settings.max_upload_bytes, expires)
        return {
            "file_id": file_id,
            "filename": name,
            "upload": {"url": upload["url"], "fields": upload["fields"]},
            "max_bytes": self.settings.max_upload_bytes,
            "expires_in": expires,
        }
