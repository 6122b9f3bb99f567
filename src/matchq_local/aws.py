"""The embedded AWS endpoint: a moto server in this process, and the environment that uses it."""

from __future__ import annotations

import os
from typing import Any

import httpx

from matchq_local.serving import BackgroundServer
from matchq_local.template import REGION

DEFAULT_AWS_PORT = 5001
LOOPBACK = "127.0.0.1"

# Credentials moto accepts; nothing here can reach a real account.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}


def endpoint_url(port: int, host: str = LOOPBACK) -> str:
    return f"http://{host}:{port}"


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


def endpoint_alive(endpoint: str, timeout: float = 0.5) -> bool:
    """True when a moto server answers at `endpoint`."""
    try:
        response = httpx.get(f"{endpoint.rstrip('/')}/moto-api/data.json", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


class MotoEndpoint(BackgroundServer):
    """A moto server on host:port, serving from a thread of this process.

    Unlike `moto.server.ThreadedMotoServer`, binding happens in the caller's thread, so a
    port already in use raises `OSError` at once instead of hanging.
    """

    def __init__(self, port: int = DEFAULT_AWS_PORT, host: str = LOOPBACK) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        app = DomainDispatcherApplication(create_backend_app)
        super().__init__(app, host, port, name="moto-server", request_handler=MotoRequestHandler)

    @property
    def url(self) -> str:
        return endpoint_url(self.port, self.host)
