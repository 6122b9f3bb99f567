"""Presigned POST uploads checked as S3 checks them, in front of the embedded endpoint.

moto stores whatever a browser-style POST to a bucket sends: a changed `key`, no policy or
signature, any size. S3 does not. `PresignedPostGuard` is WSGI middleware that, for every
multipart POST to a bucket, spools the body to a temporary file (memory stays small) and
checks before a byte reaches moto:

- the fields S3 needs (`key`, `policy`, the signature's fields) and one `file`;
- the signature, for the access key the local stack hands out: version 4 (`x-amz-algorithm`
  = AWS4-HMAC-SHA256, `x-amz-credential`, `x-amz-date`, `x-amz-signature`: hex HMAC-SHA256
  of the base64 policy with the credential's signing key) or version 2, which boto3 uses for
  presigned POSTs unless told otherwise (`AWSAccessKeyId`, `signature`: base64 HMAC-SHA1);
- the policy: not expired; every condition holds (`{"bucket": ...}`, exact fields,
  `["eq" | "starts-with", "$field", value]`, `["content-length-range", min, max]` on the
  file's size); every form field but `policy`, `x-amz-signature`, `file` and `x-ignore-*`
  is named by a condition.

A failed check is answered with S3's XML error shape and status (403 AccessDenied or
SignatureDoesNotMatch, 400 EntityTooSmall, EntityTooLarge, InvalidArgument or
InvalidPolicyDocument) and nothing is stored. Other requests pass through untouched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import shutil
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

MAX_POST_BYTES = 5 * 1024**3  # S3's limit for a POST upload
SPOOL_BYTES = 8 * 1024**2  # bodies above this are spooled to disk
# the signature fields of version 4 and of version 2 (boto3's default for POST)
V4_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")
V2_FIELDS = ("awsaccesskeyid", "signature")
UNSIGNED = {"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"}


class Refused(Exception):
    """An upload S3 would refuse: its status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _expiration(text: Any) -> datetime:
    if not isinstance(text, str):
        raise ValueError("expiration")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class PostChecker:
    """The checks of one presigned POST, given its bucket, form fields and file size."""

    def __init__(self, access_key: str, secret_key: str) -> None:
        self.access_key = access_key
        self.secret_key = secret_key

    def check(
        self, bucket: str, fields: dict[str, str], size: int, *, now: datetime | None = None
    ) -> None:
        """Raise Refused unless S3 would store this upload."""
        lowered = {k.lower(): v for k, v in fields.items()}
        signed = V4_FIELDS if "x-amz-signature" in lowered else V2_FIELDS
        for name in ("key", "policy", *signed):
            if not lowered.get(name):
                raise Refused(
                    400, "InvalidArgument", f"Bucket POST must contain a field named '{name}'."
                )
        if signed is V4_FIELDS:
            if lowered["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
                raise Refused(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 is supported.")
            self._check_signature(lowered)
        else:
            self._check_v2_signature(lowered)
        policy = self._policy(lowered["policy"])
        now = now or datetime.now(UTC)
        try:
            expired = _expiration(policy.get("expiration")) <= now
        except ValueError as exc:
            raise Refused(
                400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value."
            ) from exc
        if expired:
            raise Refused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        conditions = policy.get("conditions")
        if not isinstance(conditions, list):
            raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: 'conditions' is missing.")
        named = self._check_conditions(conditions, bucket, lowered, size)
        for name in lowered:
            if name not in UNSIGNED and not name.startswith("x-ignore-") and name not in named:
                raise Refused(
                    403,
                    "AccessDenied",
                    f"Invalid according to Policy: Extra input fields: {name}",
                )

    def _check_v2_signature(self, fields: dict[str, str]) -> None:
        """Signature version 2 (boto3's default for presigned POSTs): base64 HMAC-SHA1."""
        if fields["awsaccesskeyid"] != self.access_key:
            raise Refused(
                403,
                "InvalidAccessKeyId",
                "The AWS access key Id you provided does not exist in our records.",
            )
        digest = hmac.new(self.secret_key.encode(), fields["policy"].encode(), hashlib.sha1)
        expected = base64.b64encode(digest.digest()).decode()
        if not hmac.compare_digest(expected, fields["signature"]):
            raise Refused(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )

    def _check_signature(self, fields: dict[str, str]) -> None:
        """Signature version 4: hex HMAC-SHA256 with the credential's signing key."""
        parts = fields["x-amz-credential"].split("/")
        if len(parts) != 5 or parts[3] != "s3" or parts[4] != "aws4_request":
            raise Refused(400, "InvalidArgument", "Invalid 'x-amz-credential'.")
        access_key, date, region = parts[0], parts[1], parts[2]
        if access_key != self.access_key:
            raise Refused(
                403,
                "InvalidAccessKeyId",
                "The AWS access key Id you provided does not exist in our records.",
            )
        expected = hmac.new(
            _signing_key(self.secret_key, date, region, "s3"),
            fields["policy"].encode(),
            hashlib.sha256,
        ).hexdigest()
        if not hmac.compare_digest(expected, fields["x-amz-signature"].lower()):
            raise Refused(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )

    @staticmethod
    def _policy(encoded: str) -> dict[str, Any]:
        try:
            policy = json.loads(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from exc
        if not isinstance(policy, dict):
            raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
        return policy

    @staticmethod
    def _check_conditions(
        conditions: list[Any], bucket: str, fields: dict[str, str], size: int
    ) -> set[str]:
        """Check every condition; the field names they cover."""
        named: set[str] = set()
        values = {**fields, "bucket": bucket}

        def failed(condition: Any) -> Refused:
            shown = json.dumps(condition)
            return Refused(
                403,
                "AccessDenied",
                f"Invalid according to Policy: Policy Condition failed: {shown}",
            )

        for condition in conditions:
            if isinstance(condition, dict) and len(condition) == 1:
                ((name, want),) = condition.items()
                name = str(name).lower()
                named.add(name)
                if values.get(name) != want:
                    raise failed(condition)
            elif isinstance(condition, list) and len(condition) == 3:
                op = str(condition[0]).lower()
                if op == "content-length-range":
                    low, high = condition[1], condition[2]
                    if not isinstance(low, int) or not isinstance(high, int):
                        raise Refused(
                            400,
                            "InvalidPolicyDocument",
                            "Invalid Policy: Invalid content-length-range.",
                        )
                    if size < low:
                        raise Refused(
                            400,
                            "EntityTooSmall",
                            "Your proposed upload is smaller than the minimum allowed size",
                        )
                    if size > high:
                        raise Refused(
                            400,
                            "EntityTooLarge",
                            "Your proposed upload exceeds the maximum allowed size",
                        )
                    continue
                target = condition[1]
                if not isinstance(target, str) or not target.startswith("$"):
                    raise Refused(
                        400,
                        "InvalidPolicyDocument",
                        f"Invalid Policy: Invalid condition: {json.dumps(condition)}",
                    )
                name = target[1:].lower()
                named.add(name)
                have, want = values.get(name, ""), condition[2]
                if op == "eq" and have != want:
                    raise failed(condition)
                if op == "starts-with" and not (isinstance(want, str) and have.startswith(want)):
                    raise failed(condition)
                if op not in {"eq", "starts-with"}:
                    raise Refused(
                        400,
                        "InvalidPolicyDocument",
                        f"Invalid Policy: Invalid condition: {json.dumps(condition)}",
                    )
            else:
                raise Refused(
                    400,
                    "InvalidPolicyDocument",
                    f"Invalid Policy: Invalid condition: {json.dumps(condition)}",
                )
        return named


def error_body(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    ).encode()


class PresignedPostGuard:
    """WSGI middleware: multipart POSTs to a bucket are checked as S3 would (module doc)."""

    def __init__(self, app: Any, access_key: str, secret_key: str) -> None:
        self.app = app
        self.checker = PostChecker(access_key, secret_key)

    @staticmethod
    def _bucket(environ: dict[str, Any]) -> str | None:
        """The bucket of a POST Object request (path style, or virtual host style)."""
        path = environ.get("PATH_INFO", "").strip("/")
        if path and "/" not in path:
            return path
        host = environ.get("HTTP_HOST", "").split(":")[0]
        if not path and ".s3." in host:
            return host.split(".s3.")[0]
        return None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        content_type = environ.get("CONTENT_TYPE", "")
        bucket = self._bucket(environ)
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or not content_type.startswith("multipart/form-data")
            or bucket is None
            or environ.get("QUERY_STRING")  # ?delete and the like are not uploads
        ):
            return self.app(environ, start_response)
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            self._check(environ, bucket, body)
        except Refused as refused:
            body.close()
            return self._refuse(refused, start_response, environ.get("HTTP_ORIGIN"))
        except BaseException:
            body.close()
            raise
        environ["wsgi.input"] = body
        environ["CONTENT_LENGTH"] = str(body.seek(0, 2))
        body.seek(0)
        return self.app(environ, start_response)

    def _check(self, environ: dict[str, Any], bucket: str, body: Any) -> None:
        from werkzeug.formparser import parse_form_data

        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError as exc:
            raise Refused(
                411, "MissingContentLength", "You must provide the Content-Length HTTP header."
            ) from exc
        if length > MAX_POST_BYTES:
            raise Refused(
                400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
            )
        stream = environ["wsgi.input"]
        shutil.copyfileobj(_Limited(stream, length), body)
        body.seek(0)
        parsed = dict(environ, **{"wsgi.input": body, "CONTENT_LENGTH": str(length)})
        _, form, files = parse_form_data(parsed, silent=False)
        if len(files.getlist("file")) != 1:
            raise Refused(
                400, "InvalidArgument", "POST requires exactly one file upload per request."
            )
        upload = files["file"]
        size = upload.stream.seek(0, 2)
        fields = {k: v for k, v in form.items(multi=False)}
        if len(fields) != len(list(form.items(multi=True))):
            raise Refused(400, "InvalidArgument", "A form field may appear once.")
        self.checker.check(bucket, fields, size)
        body.seek(0)

    @staticmethod
    def _refuse(refused: Refused, start_response: Any, origin: str | None) -> list[bytes]:
        payload = error_body(refused.code, refused.message)
        reasons = {400: "Bad Request", 403: "Forbidden", 411: "Length Required"}
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(payload)))]
        if origin:
            # A browser reads the refusal only with CORS headers, as S3 sends them on errors
            # under the bucket's CORS rule (the template's allows any origin), and as moto
            # sends them on the uploads it stores: the console shows S3's message.
            headers += [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        start_response(f"{refused.status} {reasons.get(refused.status, 'Error')}", headers)
        return [payload]


class _Limited:
    """A reader of at most `left` bytes of `stream`."""

    def __init__(self, stream: Any, left: int) -> None:
        self.stream, self.left = stream, left

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size < 0 else min(size, self.left)
        data: bytes = self.stream.read(size)
        self.left -= len(data)
        return data
