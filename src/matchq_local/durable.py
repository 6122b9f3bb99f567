"""Durable local state: the embedded AWS endpoint's items, objects and messages on disk.

moto keeps everything in memory and has no durable backend. Its request recorder replays
requests, which cannot rebuild SQS (receipt handles and visibility are random and
time-bound) and would replay every byte of every upload at start-up. So the local stack
journals *state*, not requests: after each AWS request that can change something, the
`Journal` middleware reads the result from moto's backends and writes it to a SQLite
database in WAL mode under the data directory (a committed write survives `kill -9`):

- DynamoDB: the item of every key a write names (PutItem, UpdateItem, DeleteItem,
  BatchWriteItem, TransactWriteItems), as it is after the write, or its absence.
- S3: the object a request names (or, for form uploads and multi-object deletes, every
  object of the bucket): its bytes go to a file under `objects/`, and moto's copy of the
  bytes is replaced by a read-only view of that file, so large files live on disk once.
- SQS: every queue's messages (body, attributes, receive count); in-flight messages are
  kept too, and come back visible, as they would after their visibility timeout.

At start-up `restore` loads all of it into moto's backends directly (no HTTP), before the
gateway and the workers start. Jobs that were running come back `running` with a silent
heartbeat, and the maintenance function re-queues or fails them, as in the cloud.
Multipart uploads in progress and S3 checksums other than the ETag are not kept.

The moto internals used here (backends, `FakeKey._value_buffer`, `Queue._messages`) are
pinned by the moto version range in pyproject.toml and covered by tests/unit/test_durable.py.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from matchq_local.template import REGION

log = logging.getLogger(__name__)

MEMORY = ":memory:"
SCHEMA_VERSION = 1
DYNAMODB_WRITES = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
}
SQS_CHANGES = {
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",  # receive counts, and moves to a dead-letter queue
    "DeleteMessage",
    "DeleteMessageBatch",
    "PurgeQueue",
}
READS = {"GET", "HEAD", "OPTIONS"}
COPY_CHUNK = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    table_name TEXT NOT NULL, item_key TEXT NOT NULL, item TEXT NOT NULL,
    PRIMARY KEY (table_name, item_key));
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, file TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, last_modified TEXT NOT NULL, metadata TEXT NOT NULL,
    PRIMARY KEY (bucket, key));
CREATE TABLE IF NOT EXISTS messages (
    queue TEXT NOT NULL, message_id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    attributes TEXT NOT NULL, receive_count INTEGER NOT NULL,
    PRIMARY KEY (queue, message_id));
"""


class DataDirInUse(RuntimeError):
    """Another local stack holds the data directory."""


class DiskValue(io.RawIOBase):
    """A read-only file-like view of an object's file, opened for each read.

    It stands in for moto's `SpooledTemporaryFile`: moto only seeks and reads it, so no
    file handle is held per object (thousands of objects, one descriptor limit). moto's
    `close()` leaves the file alone: it belongs to the store.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = self.path.stat().st_size + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        with self.path.open("rb") as handle:
            handle.seek(self._pos)
            data = handle.read() if size is None or size < 0 else handle.read(size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)


@dataclass(frozen=True)
class Restored:
    items: int
    objects: int
    object_bytes: int
    messages: int
    seconds: float


def _backends() -> tuple[Any, Any, Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends
    from moto.sqs.models import sqs_backends

    return (
        dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION],
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"],
        sqs_backends[DEFAULT_ACCOUNT_ID][REGION],
    )


def _key_json(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


class StateStore:
    """The data directory: `state.sqlite3`, `objects/`, and a lock held while serving."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.objects_dir = data_dir / "objects"
        self.objects_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_handle = (data_dir / "lock").open("a")
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_handle.close()
            raise DataDirInUse(
                f"MATCHQ_DATA_DIR={data_dir} is in use by another local stack"
            ) from None
        self._db = sqlite3.connect(
            data_dir / "state.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
        self._db.executescript(_SCHEMA)
        found = self._db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
        if found is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(found[0]) != SCHEMA_VERSION:
            raise RuntimeError(
                f"{data_dir} holds state of schema {found[0]}, this matchq reads {SCHEMA_VERSION};"
                " move it away to start empty"
            )
        self._db_lock = threading.Lock()
        self._s3_lock = threading.Lock()
        self._sqs_lock = threading.Lock()
        self._objects: dict[tuple[str, str], Any] = {}  # the FakeKey each row was taken from
        self._messages: dict[tuple[str, str], int] = {}  # receive counts of recorded messages
        self._seq = 0

    def close(self) -> None:
        with self._db_lock:
            self._db.close()
        self._lock_handle.close()

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        with self._db_lock:
            self._db.execute("BEGIN")
            try:
                for sql, args in statements:
                    self._db.execute(sql, args)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # DynamoDB ---------------------------------------------------------------------------

    def record_dynamodb(self, operation: str, request: dict[str, Any]) -> None:
        """Record the items a successful write named, as they are now."""
        dynamodb, _, _ = _backends()
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for table_name, key in self._written_keys(dynamodb, operation, request):
            item = dynamodb.get_item(table_name, key)
            if item is None:
                statements.append(
                    (
                        "DELETE FROM items WHERE table_name=? AND item_key=?",
                        (table_name, _key_json(key)),
                    )
                )
            else:
                statements.append(
                    (
                        "INSERT OR REPLACE INTO items VALUES (?, ?, ?)",
                        (table_name, _key_json(key), json.dumps(item.to_json()["Attributes"])),
                    )
                )
        if statements:
            self._write(statements)

    @staticmethod
    def _written_keys(
        dynamodb: Any, operation: str, request: dict[str, Any]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        def key_of(table_name: str, item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            table = dynamodb.get_table(table_name)
            names = [n for n in (table.hash_key_attr, table.range_key_attr) if n]
            return table.name, {n: item[n] for n in names}

        if operation in {"PutItem"}:
            yield key_of(request["TableName"], request["Item"])
        elif operation in {"UpdateItem", "DeleteItem"}:
            yield key_of(request["TableName"], request["Key"])
        elif operation == "BatchWriteItem":
            for table_name, writes in request.get("RequestItems", {}).items():
                for write in writes:
                    if "PutRequest" in write:
                        yield key_of(table_name, write["PutRequest"]["Item"])
                    elif "DeleteRequest" in write:
                        yield key_of(table_name, write["DeleteRequest"]["Key"])
        elif operation == "TransactWriteItems":
            for entry in request.get("TransactItems", []):
                for kind, part in entry.items():
                    if kind == "Put":
                        yield key_of(part["TableName"], part["Item"])
                    elif kind in {"Update", "Delete"}:
                        yield key_of(part["TableName"], part["Key"])

    # S3 ---------------------------------------------------------------------------------

    def record_objects(self, bucket_name: str, key: str | None) -> None:
        """Record object `key` of the bucket as it is now; every object when key is None."""
        _, s3, _ = _backends()
        try:
            bucket = s3.get_bucket(bucket_name)
        except Exception:
            return
        with self._s3_lock:
            if key is None:
                names = set(bucket.keys.keys()) | {k for b, k in self._objects if b == bucket_name}
            else:
                names = {key}
            for name in sorted(names):
                self._record_object(bucket_name, name, bucket.keys.get(name))

    def _record_object(self, bucket_name: str, name: str, fake: Any) -> None:
        known = self._objects.get((bucket_name, name))
        if fake is not None and fake is known:
            return
        with self._db_lock:  # one connection for every thread: statements take turns
            old = self._db.execute(
                "SELECT file FROM objects WHERE bucket=? AND key=?", (bucket_name, name)
            ).fetchone()
        if fake is None:
            self._write([("DELETE FROM objects WHERE bucket=? AND key=?", (bucket_name, name))])
            self._objects.pop((bucket_name, name), None)
        else:
            path = self._save_bytes(fake)
            self._write(
                [
                    (
                        "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            bucket_name,
                            name,
                            path.name,
                            fake.size,
                            fake.etag.strip('"'),
                            fake.last_modified.isoformat(),
                            json.dumps(dict(fake.metadata)),
                        ),
                    )
                ]
            )
            self._objects[(bucket_name, name)] = fake
        if old is not None:
            (self.objects_dir / old[0]).unlink(missing_ok=True)

    def _save_bytes(self, fake: Any) -> Path:
        """Copy the key's bytes to a file of ours, then let moto read them from there."""
        path = self.objects_dir / uuid.uuid4().hex
        partial = path.with_suffix(".partial")
        with fake.lock:
            buffer = fake._value_buffer
            buffer.seek(0)
            with partial.open("wb") as handle:
                shutil.copyfileobj(buffer, handle, COPY_CHUNK)
            os.replace(partial, path)
            fake._etag = fake.etag.strip('"')
            fake._value_buffer = DiskValue(path)
            buffer.close()
        return path

    # SQS --------------------------------------------------------------------------------

    def record_queues(self) -> None:
        """Record every queue's messages as they are now (what changed since last time)."""
        _, _, sqs = _backends()
        with self._sqs_lock:
            current: dict[tuple[str, str], Any] = {}
            for queue in list(sqs.queues.values()):
                for message in list(queue._messages):
                    current[(queue.name, message.id)] = message
            statements: list[tuple[str, tuple[Any, ...]]] = []
            for ident in self._messages.keys() - current.keys():
                statements.append(("DELETE FROM messages WHERE queue=? AND message_id=?", ident))
                del self._messages[ident]
            for ident, message in current.items():
                count = int(message.approximate_receive_count)
                known = self._messages.get(ident)
                if known is None:
                    self._seq += 1
                    attributes = json.dumps(message.message_attributes)
                    statements.append(
                        (
                            "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?)",
                            (*ident, self._seq, message.body, attributes, count),
                        )
                    )
                elif known != count:
                    statements.append(
                        (
                            "UPDATE messages SET receive_count=? WHERE queue=? AND message_id=?",
                            (count, *ident),
                        )
                    )
                self._messages[ident] = count
            if statements:
                self._write(statements)

    # start-up ---------------------------------------------------------------------------

    def restore(self) -> Restored:
        """Load the recorded state into moto's (freshly provisioned) backends."""
        from moto.utilities.utils import LowercaseDict

        started = time.perf_counter()
        dynamodb, s3, sqs = _backends()
        items = 0
        dropped: Counter[str] = Counter()  # state of resources the template no longer has
        for table_name, item in self._db.execute("SELECT table_name, item FROM items"):
            if table_name not in dynamodb.tables:
                dropped[f"table {table_name}"] += 1
                continue
            dynamodb.put_item(table_name, json.loads(item))
            items += 1
        objects = object_bytes = 0
        rows = self._db.execute(
            "SELECT bucket, key, file, size, etag, last_modified, metadata FROM objects"
        ).fetchall()
        kept: set[str] = set()
        for bucket_name, name, file, size, etag, last_modified, metadata in rows:
            path = self.objects_dir / file
            if bucket_name not in s3.buckets:
                dropped[f"bucket {bucket_name}"] += 1
                kept.add(file)  # kept on disk: the bucket may come back
                continue
            if not path.exists():
                log.warning("object %s/%s lost its file %s; dropped", bucket_name, name, path)
                self._write([("DELETE FROM objects WHERE bucket=? AND key=?", (bucket_name, name))])
                continue
            fake = s3.put_object(bucket_name, name, b"", disable_notification=True)
            with fake.lock:
                fake._value_buffer.close()
                fake._value_buffer = DiskValue(path)
                fake.contentsize = size
                fake._etag = etag
                fake.last_modified = datetime.fromisoformat(last_modified)
                fake._metadata = LowercaseDict()
                fake._metadata.update(json.loads(metadata))
            self._objects[(bucket_name, name)] = fake
            kept.add(file)
            objects += 1
            object_bytes += size
        for path in self.objects_dir.iterdir():  # files of writes cut short by a crash
            if path.name not in kept:
                path.unlink(missing_ok=True)
        messages = 0
        rows = self._db.execute(
            "SELECT queue, body, attributes, receive_count FROM messages ORDER BY seq"
        ).fetchall()
        for queue_name, body, attributes, count in rows:
            if queue_name not in sqs.queues:
                dropped[f"queue {queue_name}"] += 1
                continue
            message = sqs.send_message(
                queue_name, body, message_attributes=json.loads(attributes) or None
            )
            message.approximate_receive_count = count
            messages += 1
        for resource, count in sorted(dropped.items()):
            log.warning(
                "%d record(s) of %s, which the template no longer has, not loaded", count, resource
            )
        # the restored messages have new ids: record them afresh
        self._write([("DELETE FROM messages", ())])
        self._messages.clear()
        self.record_queues()
        return Restored(items, objects, object_bytes, messages, time.perf_counter() - started)


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _service(environ: dict[str, Any]) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_"):
        return "dynamodb"
    if target.startswith("AmazonSQS."):
        return "sqs"
    scope = environ.get("HTTP_AUTHORIZATION", "") + environ.get("QUERY_STRING", "")
    for service in ("dynamodb", "sqs"):
        if f"/{service}/aws4_request" in scope or f"%2F{service}%2Faws4_request" in scope:
            return service
    return "s3"


def _path(environ: dict[str, Any]) -> str:
    # WSGI carries the path's bytes as latin-1; keys are UTF-8
    return str(environ.get("PATH_INFO", "")).encode("latin-1").decode("utf-8", "replace")


class Journal:
    """WSGI middleware of the embedded endpoint: after each request that can change state,
    record what it changed in the `StateStore` (module doc). Inside `SerialDynamoDB`, so
    DynamoDB writes are journaled in the order they were applied."""

    def __init__(self, app: Any, store: StateStore) -> None:
        self.app = app
        self.store = store

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") in READS:
            return self.app(environ, start_response)
        service = _service(environ)

        if service == "dynamodb":
            operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")[2]
            if operation not in DYNAMODB_WRITES:
                return self.app(environ, start_response)
            request = json.loads(_read_body(environ) or b"{}")
            status: list[str] = []

            def recording_start_response(code: str, *args: Any) -> Any:
                status.append(code)
                return start_response(code, *args)

            answer = list(self.app(environ, recording_start_response))
            if status and status[0].startswith("200"):  # a refused write changed nothing
                self.store.record_dynamodb(operation, request)
            return answer
        if service == "sqs":
            operation = self._sqs_operation(environ)
            if operation not in SQS_CHANGES:
                return self.app(environ, start_response)
            answer = list(self.app(environ, start_response))
            self.store.record_queues()  # reconciled from moto's state: any status is fine
            return answer
        answer = list(self.app(environ, start_response))
        self._record_s3(environ)
        return answer

    @staticmethod
    def _sqs_operation(environ: dict[str, Any]) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            return str(target.partition(".")[2])
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "Action" not in query and "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            query = parse_qs(_read_body(environ).decode("utf-8", "replace"))
        return query.get("Action", [""])[0]

    def _record_s3(self, environ: dict[str, Any]) -> None:
        path = _path(environ).lstrip("/")
        host = str(environ.get("HTTP_HOST", "")).split(":")[0]
        buckets = _backends()[1].buckets
        bucket, _, key = path.partition("/")
        if bucket not in buckets:  # virtual-host style: the bucket is in the host name
            bucket = host.split(".s3.")[0] if ".s3." in host else host.split(".")[0]
            if bucket not in buckets:
                return
            key = path
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if key and "partNumber" not in query and "uploads" not in query:
            self.store.record_objects(bucket, key)
        elif not key and environ.get("REQUEST_METHOD") == "POST":
            self.store.record_objects(bucket, None)  # a form upload, or DeleteObjects


def open_store(data_dir: str) -> StateStore | None:
    """The store of MATCHQ_DATA_DIR; None for `:memory:`."""
    if data_dir == MEMORY:
        return None
    return StateStore(Path(data_dir).expanduser().resolve())
