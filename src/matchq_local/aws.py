"""The embedded AWS endpoint: a moto server in this process, and the environment that uses it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

from matchq_local.serving import BackgroundServer
from matchq_local.template import REGION

DEFAULT_AWS_PORT = 5001
LOOPBACK = "127.0.0.1"
# Bind addresses that mean "every interface"; this machine reaches them through loopback.
ANY_HOST = {"0.0.0.0", "::", ""}  # noqa: S104

# Credentials moto accepts; nothing here can reach a real account.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}


def endpoint_url(port: int, host: str = LOOPBACK) -> str:
    """The URL clients on this machine use for a server bound to host:port."""
    return f"http://{LOOPBACK if host in ANY_HOST else host}:{port}"


def aws_environment(endpoint: str) -> dict[str, str]:
    """Variables that point every boto3 client of this process at `endpoint`."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        # Never read ~/.aws: a developer's profile must not leak into the local stack.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def use_endpoint(endpoint: str) -> None:
    """Point this process's boto3 clients at `endpoint` (sets os.environ)."""
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(aws_environment(endpoint))


def session(endpoint: str) -> Any:
    """A boto3 session whose clients talk to `endpoint` with the fake credentials."""
    import boto3

    class _Session(boto3.session.Session):
        def client(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs.setdefault("endpoint_url", endpoint)
            return super().client(*args, **kwargs)

        def resource(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs.setdefault("endpoint_url", endpoint)
            return super().resource(*args, **kwargs)

    return _Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


def missing_tables(endpoint: str, tables: Iterable[str], timeout: float = 5.0) -> str | None:
    """Why `endpoint` is not a local stack holding `tables`; None when it is.

    One DescribeTable per table: cheap for the endpoint however much it holds, and it
    tells a running local stack from any other server (or none) on that port.
    """
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    config = Config(connect_timeout=1, read_timeout=timeout, retries={"total_max_attempts": 2})
    dynamodb = session(endpoint).client("dynamodb", config=config)
    for table in tables:
        try:
            dynamodb.describe_table(TableName=table)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            return f"the AWS endpoint at {endpoint} has no table {table} ({code})"
        except BotoCoreError as exc:
            return f"no AWS endpoint answers at {endpoint} ({type(exc).__name__})"
    return None


class SerialDynamoDB:
    """WSGI middleware of the embedded endpoint: one DynamoDB request at a time.

    moto checks a write's ConditionExpression and applies the write as two steps with no
    lock between them, so two concurrent conditional writes to one item can both succeed,
    which DynamoDB never allows (a cancel and a worker's claim both won). DynamoDB calls
    take milliseconds here; the other services (SQS long polls, S3 transfers) stay
    concurrent.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self._lock:
            return list(self.app(environ, start_response))


class MotoEndpoint(BackgroundServer):
    """A moto server on host:port, serving from threads of this process.

    Unlike `moto.server.ThreadedMotoServer`, binding happens in the caller's thread, so a
    port already in use raises `OSError` at once instead of hanging. Presigned POST uploads
    are checked as S3 checks them (`matchq_local.uploads`) before moto sees them. With a
    `StateStore`, every change is journaled to disk (`matchq_local.durable`).
    """

    def __init__(
        self, port: int = DEFAULT_AWS_PORT, host: str = LOOPBACK, store: Any | None = None
    ) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        from matchq_local.uploads import PresignedPostGuard

        moto_app: Any = DomainDispatcherApplication(create_backend_app)
        if store is not None:  # durable state (matchq_local.durable)
            from matchq_local.durable import Journal

            moto_app = Journal(moto_app, store)
        app = PresignedPostGuard(
            SerialDynamoDB(moto_app),
            access_key=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        super().__init__(app, host, port, name="moto-server", request_handler=MotoRequestHandler)

    @property
    def url(self) -> str:
        return endpoint_url(self.port, self.host)
