"""Uploads: a file id and a presigned POST whose policy caps the size; the preview of an
uploaded file (its columns, first rows, format, encoding and delimiter)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from matchq.auth import Principal
from matchq.config import FILE_ID_RE
from matchq.dal.files import FileRecords
from matchq.dal.storage import Storage, StoredObject, upload_prefix
from matchq.errors import AccessDenied, NotFound, ValidationFailed
from matchq.formats import SUPPORTED_EXTENSIONS, FilePreview, NeedsWholeFile, preview
from matchq.formats.delimited import PROBE_BYTES
from matchq.models import utcnow
from matchq.observability import tag
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
    def __init__(
        self,
        storage: Storage,
        settings: ApiSettings,
        records: FileRecords,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.records = records
        self.clock = clock

    def create_upload(self, principal: Principal, filename: str) -> dict[str, Any]:
        name = sanitize_filename(filename)
        file_id = f"file_{uuid.uuid4()}"
        tag(file_id=file_id)
        # The owner, so that another user's GET /files/{file_id} is a 403, not a 404.
        self.records.put(file_id, principal.user_id, name, self.clock())
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

    # --- preview -----------------------------------------------------------------------

    def _uploaded(self, principal: Principal, file_id: str) -> StoredObject:
        """The stored object of `file_id`: 404 unknown (or not a file id) or not uploaded
        yet, 403 another user's (an admin may read any)."""
        if not FILE_ID_RE.fullmatch(file_id):
            raise NotFound(f"File not found: {file_id}")
        record = self.records.get(file_id)
        if record is None:
            # No ownership record (an upload older than them): only the caller's own.
            owner = principal.user_id
        elif not principal.may_access(record.user_id):
            raise AccessDenied("Access denied to this file")
        else:
            owner = record.user_id
        objects = self.storage.list_prefix(upload_prefix(owner, file_id))
        if not objects:
            if record is None:
                raise NotFound(f"File not found: {file_id}")
            raise NotFound(
                f"File not uploaded yet: {file_id} (POST it to the form POST /files returned)"
            )
        return objects[0]

    def _preview(self, source: StoredObject) -> FilePreview:
        """From the first MiB, as the submit's header probe reads it; the whole file
        (at most max_upload_bytes) when that does not hold the header, or for .xlsx."""
        if source.size_bytes > self.settings.max_upload_bytes:
            # the upload policy caps the size; this holds whatever wrote the object
            raise ValidationFailed(
                f"'{source.name}' holds {source.size_bytes:,} bytes; files may hold at most "
                f"{self.settings.max_upload_bytes:,}"
            )
        complete = source.size_bytes <= PROBE_BYTES
        try:
            head = self.storage.read_head(source.key, PROBE_BYTES)
            return preview(head, source.name, complete=complete)
        except NeedsWholeFile:
            data = self.storage.read_head(source.key, self.settings.max_upload_bytes)
            return preview(data, source.name, complete=True)

    def describe(self, principal: Principal, file_id: str) -> dict[str, Any]:
        """`GET /files/{file_id}`: the file, its columns and first rows (docs/api.md)."""
        tag(file_id=file_id)
        source = self._uploaded(principal, file_id)
        found = self._preview(source)
        return {
            "file_id": file_id,
            "filename": source.name,
            "size_bytes": source.size_bytes,
            "format": found.format,
            "encoding": found.encoding,
            "delimiter": found.delimiter,
            "columns": found.columns,
            "sample_rows": found.rows,
        }
