"""The local gateway over real HTTP, with stand-in functions: routing, authorizer, responses."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from matchq_local.gateway import Gateway, GatewayServer
from matchq_local.lambda_runtime import FunctionRegistry
from matchq_local.template import AuthorizerSpec, FunctionSpec, LocalStack, Route, load_stack

pytestmark = pytest.mark.e2e

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

FUNCTIONS = {
    "Echo": """
        import json

        def lambda_handler(event, context):
            body = {"event": event, "remaining": context.get_remaining_time_in_millis()}
            return {"statusCode": 200, "headers": {"X-Echo": "1"}, "body": json.dumps(body)}
    """,
    "Binary": """
        def lambda_handler(event, context):
            return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                    "body": event["body"], "isBase64Encoded": event["isBase64Encoded"]}
    """,
    "Broken": """
        def lambda_handler(event, context):
            return "not a proxy response"
    """,
    "Auth": """
        import os

        def lambda_handler(event, context):
            with open(os.environ["GATEWAY_TEST_CALLS"], "a") as calls:
                calls.write("x")
            mode = (event.get("headers") or {}).get("x-mode") or ""
            if mode == "raise":
                raise RuntimeError("boom")
            if mode == "unauthorized":
                raise Exception("Unauthorized")
            if mode == "garbage":
                return {"nothing": True}
            effect = "Allow" if mode in {"allow", "cached"} else "Deny"
            return {
                "principalId": "tester",
                "policyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Action": "execute-api:Invoke", "Effect": effect,
                    "Resource": event["methodArn"],
                }]},
                "context": {"user_id": "tester", "is_admin": False, "details": "denied: no mode",
                            "timestamp": "2025-01-27T00:00:00Z"},
            }
    """,
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("functions")
    calls = root / "calls.txt"
    calls.write_text("")
    functions = {}
    for name, code in FUNCTIONS.items():
        (root / name).mkdir()
        (root / name / "app.py").write_text(textwrap.dedent(code))
        functions[name] = FunctionSpec(name, root / name, "app.lambda_handler", 29, 128, {}, [])
    template = load_stack("http://127.0.0.1:9")
    stack = LocalStack(
        resources={},
        parameters={},
        functions=functions,
        routes=[
            Route("GET", "/api/v1/jobs/list", "Echo", "Auth"),
            Route("GET", "/api/v1/jobs/{job_id}", "Echo", "Auth"),
            Route("POST", "/api/v1/jobs/{job_id}/cancel", "Echo", "Auth"),
            Route("POST", "/api/v1/bin", "Binary", "Auth"),
            Route("GET", "/api/v1/broken", "Broken", "Auth"),
            Route("GET", "/api/v1/cached", "Echo", "Cached"),
            Route("GET", "/api/v1/open", "Echo", None),
        ],
        authorizers={
            "Auth": AuthorizerSpec("Auth", "Auth", "request", [], 0),
            "Cached": AuthorizerSpec(
                "Cached", "Auth", "request", ["method.request.header.X-Mode"], 300
            ),
        },
        gateway_responses=template.gateway_responses,
        cors=template.cors,
    )
    import os

    os.environ["GATEWAY_TEST_CALLS"] = str(calls)
    server = GatewayServer(Gateway(stack, FunctionRegistry(stack)), "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{server.port}/api/v1", calls
    finally:
        server.stop()
        os.environ.pop("GATEWAY_TEST_CALLS", None)


@pytest.fixture
def http(gateway: tuple[str, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway[0], headers={"x-mode": "allow"}) as client:
        yield client


def test_literal_path_wins_over_parameter(http: httpx.Client) -> None:
    listed = http.get("/jobs/list").json()["event"]
    assert listed["resource"] == "/api/v1/jobs/list"
    assert listed["pathParameters"] is None
    one = http.get("/jobs/job_1?a=1&a=2&b=x").json()["event"]
    assert one["resource"] == "/api/v1/jobs/{job_id}"
    assert one["pathParameters"] == {"job_id": "job_1"}
    assert one["queryStringParameters"] == {"a": "2", "b": "x"}
    assert one["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    cancel = http.post("/jobs/job_1/cancel").json()["event"]
    assert cancel["resource"] == "/api/v1/jobs/{job_id}/cancel"


def test_proxy_event_and_context(http: httpx.Client) -> None:
    response = http.get("/jobs/list")
    assert response.headers["X-Echo"] == "1"
    body = response.json()
    event = body["event"]
    assert 0 < body["remaining"] <= 29_000
    context = event["requestContext"]
    assert context["stage"] == "prod"
    assert context["resourcePath"] == "/api/v1/jobs/list"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["authorizer"]["user_id"] == "tester"
    assert context["authorizer"]["is_admin"] == "false"  # REST APIs pass strings
    assert context["authorizer"]["principalId"] == "tester"
    assert event["httpMethod"] == "GET"
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_binary_bodies_round_trip(http: httpx.Client) -> None:
    payload = bytes(range(256)) * 4
    response = http.post("/bin", content=payload)
    assert response.status_code == 200
    assert response.content == payload
    text = http.post("/bin", content="héllo".encode())
    assert text.content == "héllo".encode()


def test_deny_renders_access_denied_with_authorizer_context(http: httpx.Client) -> None:
    response = http.get("/jobs/list", headers={"x-mode": "deny"})
    assert response.status_code == 401
    assert response.json() == {
        "error": "Unauthorized",
        "details": "denied: no mode",
        "timestamp": "2025-01-27T00:00:00Z",
    }
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("mode", "status", "error"),
    [
        ("raise", 500, "Internal Server Error"),
        ("garbage", 500, "Internal Server Error"),
        ("unauthorized", 401, "Unauthorized"),
    ],
)
def test_authorizer_failures(http: httpx.Client, mode: str, status: int, error: str) -> None:
    response = http.get("/jobs/list", headers={"x-mode": mode})
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert ISO_Z.match(body["timestamp"])


def test_unknown_route_and_method(http: httpx.Client) -> None:
    for response in (http.get("/nope"), http.delete("/jobs/list"), http.get("/jobs/a/b/c")):
        assert response.status_code == 404
        body = response.json()
        assert body["error"] == "Not Found"
        assert ISO_Z.match(body["timestamp"])


def test_malformed_function_answer_is_a_gateway_error(http: httpx.Client) -> None:
    response = http.get("/broken")
    assert response.status_code == 502
    assert set(response.json()) == {"error", "details", "timestamp"}


def test_preflight_skips_the_authorizer(http: httpx.Client) -> None:
    response = http.options("/jobs/job_1", headers={"x-mode": "deny"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Methods"] == "GET,POST,DELETE,OPTIONS"
    assert response.headers["Access-Control-Max-Age"] == "600"


def test_authorizer_cache_and_identity_sources(
    gateway: tuple[str, Path], http: httpx.Client
) -> None:
    calls = gateway[1]
    before = len(calls.read_text())
    for _ in range(3):
        assert http.get("/cached", headers={"x-mode": "cached"}).status_code == 200
    assert len(calls.read_text()) - before == 1  # TTL 300: one call per identity
    missing = http.get("/cached", headers={"x-mode": ""})
    assert missing.status_code == 401  # no identity source value: the function is not called
    assert len(calls.read_text()) - before == 1
    before = len(calls.read_text())
    for _ in range(2):
        http.get("/jobs/list")
    assert len(calls.read_text()) - before == 2  # TTL 0: every request


def test_route_without_authorizer(http: httpx.Client) -> None:
    event = http.get("/open", headers={"x-mode": "deny"}).json()["event"]
    assert "authorizer" not in event["requestContext"]
