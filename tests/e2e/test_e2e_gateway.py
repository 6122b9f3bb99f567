"""The local gateway over real HTTP, with stand-in functions: routing, authorizer, responses,
and the error body for requests the HTTP server refuses before any route."""

from __future__ import annotations

import re
import socket
import textwrap
from collections.abc import Iterator
from http import HTTPStatus
from http.client import HTTPResponse
from pathlib import Path

import httpx
import pytest

from matchq_local.gateway import Gateway, GatewayServer
from matchq_local.lambda_runtime import FunctionRegistry
from matchq_local.template import AuthorizerSpec, FunctionSpec, LocalStack, Route, load_stack
from tests.support import error_body_ok

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
            effect = "Allow" if mode in {"allow", "stage"} else "Deny"
            resource = event["methodArn"]
            if mode in {"stage", "deny-stage"}:  # the whole stage, as the template's authorizer
                resource = "/".join(resource.split("/")[:2]) + "/*"
            return {
                "principalId": "tester",
                "policyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Action": "execute-api:Invoke", "Effect": effect, "Resource": resource,
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
        functions[name] = FunctionSpec(name, root / name, "app.lambda_handler", 29, 128, {})
    template = load_stack("http://127.0.0.1:9")
    stack = LocalStack(
        resources={},
        functions=functions,
        routes=[
            Route("GET", "/api/v1/jobs/list", "Echo", "Auth"),
            Route("GET", "/api/v1/jobs/{job_id}", "Echo", "Auth"),
            Route("POST", "/api/v1/jobs/{job_id}/cancel", "Echo", "Auth"),
            Route("POST", "/api/v1/bin", "Binary", "Auth"),
            Route("GET", "/api/v1/broken", "Broken", "Auth"),
            Route("GET", "/api/v1/open", "Echo", None),
        ],
        authorizers={"Auth": AuthorizerSpec("Auth", "Auth")},
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


def test_authorizer_runs_on_every_request_even_without_a_token(
    gateway: tuple[str, Path], http: httpx.Client
) -> None:
    """The template's authorizer has no identity sources and no cache (ReauthorizeEvery 0)."""
    calls = gateway[1]
    before = len(calls.read_text())
    for _ in range(3):
        assert http.get("/jobs/list").status_code == 200
    assert http.get("/jobs/list", headers={"x-mode": ""}).status_code == 401
    assert len(calls.read_text()) - before == 4


@pytest.mark.parametrize(("mode", "status"), [("stage", 200), ("deny-stage", 401)])
def test_a_stage_wide_policy_is_matched_with_iam_wildcards(
    http: httpx.Client, mode: str, status: int
) -> None:
    """The template's authorizer answers for `arn:...:api/prod/*`, not for one method."""
    assert http.get("/jobs/job_1", headers={"x-mode": mode}).status_code == status


def test_route_without_authorizer(http: httpx.Client) -> None:
    event = http.get("/open", headers={"x-mode": "deny"}).json()["event"]
    assert "authorizer" not in event["requestContext"]


# --- what the HTTP server refuses before any route ---------------------------------------


def raw_request(base_url: str, data: bytes) -> httpx.Response:
    """Send `data` as it is over a new connection and read the answer."""
    address = httpx.URL(base_url)
    with socket.create_connection((address.host, address.port or 80), timeout=10) as sock:
        sock.sendall(data)
        answer = HTTPResponse(sock)
        answer.begin()
        return httpx.Response(answer.status, headers=answer.getheaders(), content=answer.read())


def assert_error_body(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert error_body_ok(response.json(), HTTPStatus(status).phrase), response.text


def test_an_oversized_header_is_a_431_with_the_error_body(
    gateway: tuple[str, Path], http: httpx.Client
) -> None:
    response = http.get("/jobs/list", headers={"X-Big": "a" * 100_000})
    assert_error_body(response, 431)
    assert "65536" in response.json()["details"]
    # The gateway still serves the next request.
    assert http.get("/jobs/list").status_code == 200


def test_too_many_headers_is_a_431_with_the_error_body(gateway: tuple[str, Path]) -> None:
    headers = b"".join(b"X-H%d: 1\r\n" % i for i in range(150))
    response = raw_request(
        gateway[0], b"GET /api/v1/open HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"
    )
    assert_error_body(response, 431)


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GARBAGE", 400),
        (b"GET /api/v1/open HTTP/x.y", 400),
        (b"GET http://[::1/api/v1/open HTTP/1.1", 400),
        (b"GET /api/v1/open HTTP/2.0", 505),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1", 414),
    ],
)
def test_a_malformed_request_line_gets_the_error_body(
    gateway: tuple[str, Path], request_line: bytes, status: int
) -> None:
    response = raw_request(gateway[0], request_line + b"\r\nHost: x\r\n\r\n")
    assert_error_body(response, status)


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: abc\r\n",
        b"Content-Length: -5\r\n",
        b"Transfer-Encoding: chunked\r\n",  # followed by a body that is not chunked
    ],
)
def test_a_malformed_body_framing_is_a_400(gateway: tuple[str, Path], head: bytes) -> None:
    request = b"POST /api/v1/bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + head
    response = raw_request(gateway[0], request + b"\r\nnot chunked\r\n\r\n")
    assert_error_body(response, 400)
