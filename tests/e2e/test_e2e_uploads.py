"""Presigned POST uploads to the embedded endpoint are checked as S3 checks them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from matchq.dal.storage import Storage
from matchq_local.aws import MotoEndpoint, session
from matchq_local.uploads import PostChecker, Refused

pytestmark = pytest.mark.e2e

BUCKET = "uploads"
KEY = "uploads/alice/file_1/customers.csv"
MAX_BYTES = 64


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    moto = MotoEndpoint(0).start()
    try:
        session(moto.url).client("s3").create_bucket(Bucket=BUCKET)
        yield moto.url
    finally:
        moto.stop()


@pytest.fixture
def storage(endpoint: str) -> Storage:
    return Storage(BUCKET, session(endpoint).client("s3"))


def grant(storage: Storage, key: str = KEY, expires_in: int = 60) -> dict[str, Any]:
    return storage.presigned_upload(key, MAX_BYTES, expires_in)


def post(
    grant: dict[str, Any], content: bytes = b"a,b\n1,2\n", **changes: str | None
) -> httpx.Response:
    fields = {k: v for k, v in {**grant["fields"], **changes}.items() if v is not None}
    return httpx.post(grant["url"], data=fields, files={"file": ("f.csv", content, "text/csv")})


def stored(storage: Storage, key: str) -> bytes | None:
    try:
        body: bytes = storage._client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except storage._client.exceptions.NoSuchKey:
        return None
    return body


def error_code(response: httpx.Response) -> str:
    text = response.text
    return text.split("<Code>")[1].split("</Code>")[0]


def test_a_genuine_upload_is_stored(storage: Storage) -> None:
    key = KEY + ".ok"
    response = post(grant(storage, key))
    assert response.status_code == 204, response.text
    assert stored(storage, key) == b"a,b\n1,2\n"


def test_a_changed_key_is_refused_and_nothing_is_stored(storage: Storage) -> None:
    victim = "uploads/bob/file_2/crm.csv"
    response = post(grant(storage, KEY + ".mine"), key=victim)
    assert response.status_code == 403
    assert error_code(response) == "AccessDenied"
    assert "Policy Condition failed" in response.text
    assert stored(storage, victim) is None


def test_a_browser_can_read_why_its_upload_was_refused(storage: Storage) -> None:
    """The web console posts from its own origin: the refusal carries CORS headers, as the
    uploads moto stores do, so the page shows S3's reason instead of a network error."""
    form = grant(storage, KEY + ".browser")
    origin = "http://localhost:5000"
    refused = httpx.post(
        form["url"],
        data={**form["fields"], "key": "uploads/bob/file_2/crm.csv"},
        files={"file": ("f.csv", b"a\n1\n", "text/csv")},
        headers={"Origin": origin},
    )
    assert refused.status_code == 403
    assert refused.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in post(form, key="uploads/x").headers


@pytest.mark.parametrize("dropped", ["policy", "signature", "AWSAccessKeyId", "key"])
def test_a_post_without_policy_or_signature_is_refused(storage: Storage, dropped: str) -> None:
    key = KEY + ".unsigned-" + dropped
    response = post(grant(storage, key), **{dropped: None})
    assert response.status_code == 400
    assert error_code(response) == "InvalidArgument"
    assert stored(storage, key) is None


def test_a_forged_policy_is_refused(storage: Storage) -> None:
    key = KEY + ".forged"
    original = grant(storage, key)
    policy = json.loads(base64.b64decode(original["fields"]["policy"]))
    for condition in policy["conditions"]:
        if isinstance(condition, list) and condition[0] == "content-length-range":
            condition[2] = 10**9
    forged = base64.b64encode(json.dumps(policy).encode()).decode()
    response = post(original, b"x" * (MAX_BYTES + 1), policy=forged)
    assert response.status_code == 403
    assert error_code(response) == "SignatureDoesNotMatch"
    assert stored(storage, key) is None


@pytest.mark.parametrize(
    ("content", "code"), [(b"", "EntityTooSmall"), (b"x" * (MAX_BYTES + 1), "EntityTooLarge")]
)
def test_sizes_outside_the_policy_are_refused(storage: Storage, content: bytes, code: str) -> None:
    key = KEY + "." + code
    response = post(grant(storage, key), content)
    assert response.status_code == 400
    assert error_code(response) == code
    assert stored(storage, key) is None


def test_an_extra_field_is_refused(storage: Storage) -> None:
    key = KEY + ".extra"
    response = post(grant(storage, key), **{"x-amz-meta-owner": "mallory"})
    assert response.status_code == 403
    assert "Extra input fields" in response.text
    assert stored(storage, key) is None


def test_an_expired_policy_is_refused() -> None:
    checker = PostChecker("testing", "testing")
    storage = Storage(BUCKET, session("http://127.0.0.1:9").client("s3"))
    fields = grant(storage)["fields"]
    later = datetime.now(UTC) + timedelta(seconds=61)
    checker.check(BUCKET, fields, 1)  # valid now
    with pytest.raises(Refused, match="Policy expired"):
        checker.check(BUCKET, fields, 1, now=later)
    with pytest.raises(Refused, match="Policy Condition failed"):
        checker.check("another-bucket", fields, 1)


def test_other_requests_pass_through(storage: Storage) -> None:
    storage._client.put_object(Bucket=BUCKET, Key="direct", Body=b"1")
    assert stored(storage, "direct") == b"1"
    listed = storage._client.list_objects_v2(Bucket=BUCKET, Prefix="direct")
    assert listed["KeyCount"] == 1


def test_signature_version_4_posts_are_checked_too(endpoint: str) -> None:
    from botocore.config import Config

    client = session(endpoint).client("s3", config=Config(signature_version="s3v4"))
    storage = Storage(BUCKET, client)
    key = KEY + ".v4"
    assert "x-amz-signature" in grant(storage, key)["fields"]
    assert post(grant(storage, key), key=key + ".other").status_code == 403
    tampered = grant(storage, key)
    signature = tampered["fields"]["x-amz-signature"]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    response = post(tampered, **{"x-amz-signature": flipped})
    assert error_code(response) == "SignatureDoesNotMatch"
    assert stored(storage, key) is None
    assert post(grant(storage, key)).status_code == 204
    assert stored(storage, key) == b"a,b\n1,2\n"
