"""An HTTP gateway that behaves like the template's API Gateway REST API (v1).

It serves exactly the template's routes (literal path segments win over `{param}`
segments), runs the Lambda authorizer before each route, answers with the template's
gateway responses where API Gateway itself would answer, answers CORS preflights like
the template's mock integration, and calls the route's function with a REST proxy event.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from matchq_local.lambda_runtime import FunctionRegistry
from matchq_local.serving import BackgroundServer
from matchq_local.template import (
    ACCOUNT,
    REGION,
    AuthorizerSpec,
    LocalStack,
    Route,
    UnsupportedTemplate,
)

log = logging.getLogger("matchq.local")
access_log = logging.getLogger("matchq.local.access")

API_ID = "matchqlocal"
STAGE = "prod"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

# Status of each gateway response type the local gateway produces, when the template
# does not set one.
DEFAULT_STATUS = {
    "ACCESS_DENIED": 403,
    "UNAUTHORIZED": 401,
    "AUTHORIZER_FAILURE": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "REQUEST_TOO_LARGE": 413,
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 502,
}
ERROR_MESSAGES = {
    "ACCESS_DENIED": "User is not authorized to access this resource",
    "UNAUTHORIZED": "Unauthorized",
    "AUTHORIZER_FAILURE": "Unauthorized",
    "AUTHORIZER_CONFIGURATION_ERROR": "Unauthorized",
    "MISSING_AUTHENTICATION_TOKEN": "Missing Authentication Token",
    "REQUEST_TOO_LARGE": "Request Too Long",
    "DEFAULT_5XX": "Internal server error",
}
RAW_HEADERS = "matchq.raw_headers"  # environ key: header names as the client sent them
# The $context variables of gateway response templates the local gateway renders. Any other
# would render empty here but not in API Gateway, so a template using one is refused.
_CONTEXT_REF = re.compile(r"\$context\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)")
_RENDERED = {"requestTime", "error.message", "error.messageString", "error.responseType"}


def status_line(code: int) -> str:
    """`400 Bad Request` as API Gateway writes it (werkzeug would upper-case the phrase)."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


# ---------------------------------------------------------------- routing


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    segments: tuple[str, ...]

    def match(self, parts: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
        """(rank, path parameters) when `parts` fits; lower rank is more specific."""
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        rank: list[int] = []
        for segment, part in zip(self.segments, parts, strict=True):
            if segment.startswith("{") and segment.endswith("}"):
                params[segment[1:-1]] = part
                rank.append(1)
            elif segment == part:
                rank.append(0)
            else:
                return None
        return tuple(rank), params


class Router:
    """The template's routes, matched like API Gateway's resource tree."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = [
            _CompiledRoute(route, tuple(p for p in route.path.split("/") if p)) for route in routes
        ]

    def resources(self, path: str) -> list[tuple[tuple[int, ...], Route, dict[str, str]]]:
        """Routes (any method) whose path fits, most specific resource first."""
        parts = [unquote(p) for p in path.split("/") if p]
        found = []
        for compiled in self._routes:
            result = compiled.match(parts)
            if result is not None:
                found.append((result[0], compiled.route, result[1]))
        found.sort(key=lambda item: item[0])
        return found

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route serving `method path`; None when the resource or method does not exist."""
        candidates = self.resources(path)
        if not candidates:
            return None
        best = candidates[0][0]
        for rank, route, params in candidates:
            if rank == best and route.method == method:
                return route, params
        return None


# ---------------------------------------------------------------- gateway responses


def _clf(ts: datetime) -> str:
    return ts.strftime("%d/%b/%Y:%H:%M:%S +0000")


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RequestInfo:
    """What API Gateway knows about a request before any integration runs."""

    request_id: str
    received: datetime
    method: str
    path: str
    source_ip: str
    user_agent: str
    resource_path: str = ""
    started: float = field(default_factory=time.perf_counter)


def render_gateway_response(
    stack: LocalStack,
    kind: str,
    info: RequestInfo,
    *,
    authorizer: dict[str, Any] | None = None,
) -> Response:
    """The template's gateway response of `kind` (or its DEFAULT_4XX/5XX), rendered."""
    status = DEFAULT_STATUS.get(kind, 500)
    responses = stack.gateway_responses
    spec = (
        responses.get(kind) or responses.get("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX") or {}
    )
    status = int(spec.get("statusCode") or status)
    message = ERROR_MESSAGES.get(kind, HTTPStatus(status).phrase)
    values = {
        # API Gateway renders $context.requestTime in CLF ("27/Jan/2025:10:00:00 +0000").
        # Locally it is ISO-8601 with Z, as the API's error body requires; see
        # docs/local-stack.md.
        "requestTime": _iso(info.received),
        "error.message": message,
        "error.messageString": json.dumps(message),
        "error.responseType": kind,
    }
    for key, value in (authorizer or {}).items():
        values[f"authorizer.{key}"] = str(value)
    templates = spec.get("responseTemplates") or {}
    template = templates.get("application/json") or '{"message":$context.error.messageString}'
    body = _CONTEXT_REF.sub(lambda m: values.get(m.group(1), ""), template)
    headers = Headers({"Content-Type": "application/json", "x-amzn-RequestId": info.request_id})
    headers["x-amzn-ErrorType"] = _error_type(kind)
    for name, value in (spec.get("responseParameters") or {}).items():
        if name.startswith("gatewayresponse.header."):
            headers[name.removeprefix("gatewayresponse.header.")] = str(value).strip("'")
    return Response(body.encode(), status=status_line(status), headers=headers)


def _error_type(kind: str) -> str:
    return {
        "ACCESS_DENIED": "AccessDeniedException",
        "UNAUTHORIZED": "UnauthorizedException",
        "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
        "AUTHORIZER_FAILURE": "AuthorizerFailureException",
        "AUTHORIZER_CONFIGURATION_ERROR": "AuthorizerConfigurationException",
    }.get(kind, "InternalServerErrorException" if kind == "DEFAULT_5XX" else "BadRequestException")


# ---------------------------------------------------------------- authorizer


class AuthorizerRejected(Exception):
    """The authorizer did not allow the request; `kind` is the gateway response type."""

    def __init__(self, kind: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.context = context or {}


def _iam_match(pattern: str, value: str) -> bool:
    """IAM's wildcards: `*` is any run of characters, `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    """IAM evaluation of an authorizer policy for execute-api:Invoke on `method_arn`.

    The template's authorizer allows the whole stage (`.../prod/*`), so the Resource is
    matched with IAM wildcards; an explicit Deny wins.
    """
    allowed = False
    for statement in _as_list(policy.get("Statement") or []):
        if not any(_iam_match(a, "execute-api:Invoke") for a in _as_list(statement["Action"])):
            continue
        if not any(_iam_match(r, method_arn) for r in _as_list(statement["Resource"])):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class Authorizer:
    """The template's Lambda REQUEST authorizer: called on every request (no result cache)."""

    def __init__(self, spec: AuthorizerSpec, functions: FunctionRegistry) -> None:
        self.spec = spec
        self.function = functions[spec.function]

    def authorize(self, event: dict[str, Any]) -> dict[str, Any]:
        """The caller's context (plus principalId); raises AuthorizerRejected otherwise."""
        try:
            answer = self.function.invoke(event)
        except Exception as exc:
            if str(exc) == "Unauthorized":
                raise AuthorizerRejected("UNAUTHORIZED") from exc
            log.exception("authorizer %s failed", self.spec.name)
            raise AuthorizerRejected("AUTHORIZER_FAILURE") from exc
        try:
            context = {k: _context_value(v) for k, v in (answer.get("context") or {}).items()}
            allowed = policy_allows(answer["policyDocument"], event["methodArn"])
            principal = str(answer["principalId"])
        except (AttributeError, KeyError, TypeError) as exc:
            log.error("authorizer %s returned no valid principalId/policyDocument", self.spec.name)
            raise AuthorizerRejected("AUTHORIZER_CONFIGURATION_ERROR") from exc
        if not allowed:
            raise AuthorizerRejected("ACCESS_DENIED", context)
        context["principalId"] = principal
        return context


def _context_value(value: Any) -> str:
    """REST APIs pass authorizer context values to the integration as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- proxy events


def _multi(
    items: Iterable[tuple[str, str]],
) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in items:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return (single or None), (multi or None)


def build_request_context(info: RequestInfo, host: str) -> dict[str, Any]:
    return {
        "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, info.resource_path).hex[:6],
        "resourcePath": info.resource_path,
        "httpMethod": info.method,
        "extendedRequestId": info.request_id,
        "requestTime": _clf(info.received),
        "path": f"/{STAGE}{info.path}",
        "accountId": ACCOUNT,
        "protocol": "HTTP/1.1",
        "stage": STAGE,
        "domainPrefix": host.split(".", 1)[0],
        "requestTimeEpoch": int(info.received.timestamp() * 1000),
        "requestId": info.request_id,
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": info.source_ip,
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": info.user_agent,
            "user": None,
        },
        "domainName": host,
        "apiId": API_ID,
    }


def build_proxy_event(
    request: Request, info: RequestInfo, route: Route, params: dict[str, str], body: bytes
) -> dict[str, Any]:
    """The REST API (v1) Lambda proxy event of `request` for `route`."""
    raw_headers = request.environ.get(RAW_HEADERS) or list(request.headers.items())
    headers, multi_headers = _multi(raw_headers)
    query, multi_query = _multi(request.args.items(multi=True))
    text: str | None
    try:
        text, binary = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, binary = base64.b64encode(body).decode("ascii"), True
    return {
        "resource": route.path,
        "path": info.path,
        "httpMethod": info.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": build_request_context(info, request.host),
        "body": text if body else None,
        "isBase64Encoded": binary,
    }


def method_arn(method: str, path: str) -> str:
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{method}/{path.lstrip('/')}"


def authorizer_event(proxy_event: dict[str, Any]) -> dict[str, Any]:
    """The REQUEST authorizer's event: the proxy event without a body, plus type and methodArn."""
    event = {k: v for k, v in proxy_event.items() if k not in {"body", "isBase64Encoded"}}
    event["type"] = "REQUEST"
    event["methodArn"] = method_arn(proxy_event["httpMethod"], proxy_event["path"])
    return event


def proxy_response(result: Any, request_id: str) -> Response | None:
    """The HTTP response of a Lambda proxy result; None when it is malformed."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int | str):
        return None
    try:
        status = int(result["statusCode"])
    except ValueError:
        return None
    headers = Headers()
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            headers.add(name, str(value))
    for name, value in (result.get("headers") or {}).items():
        headers[name] = str(value)
    if "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    headers["x-amzn-RequestId"] = request_id
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return Response(data, status=status_line(status), headers=headers)


# ---------------------------------------------------------------- the WSGI app


class Gateway:
    """The WSGI application of the local REST API."""

    def __init__(self, stack: LocalStack, functions: FunctionRegistry) -> None:
        self.stack = stack
        self.functions = functions
        unrendered = {
            ref
            for spec in stack.gateway_responses.values()
            for template in (spec.get("responseTemplates") or {}).values()
            for ref in _CONTEXT_REF.findall(template)
            if ref not in _RENDERED and not ref.startswith("authorizer.")
        }
        if unrendered:
            names = ", ".join(f"$context.{ref}" for ref in sorted(unrendered))
            raise UnsupportedTemplate(f"gateway responses use {names}, not rendered locally")
        self.router = Router(stack.routes)
        self.authorizers = {
            name: Authorizer(spec, functions) for name, spec in stack.authorizers.items()
        }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        started = time.perf_counter()
        try:
            response = self.handle(request)
        except Exception:
            # API Gateway never answers with a stack trace: a gateway bug is a 5xx error body.
            log.exception("gateway failed on %s %s", request.method, request.path)
            response = render_gateway_response(self.stack, "DEFAULT_5XX", _request_info(request))
        access_log.info(
            "%s %s %s %.1f ms",
            request.method,
            request.full_path.rstrip("?"),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response(environ, start_response)  # type: ignore[no-any-return]

    def handle(self, request: Request) -> Response:
        info = _request_info(request)
        path = info.path
        declared = request.headers.get("Content-Length")
        if declared is not None and not declared.strip().isdigit():
            return error_response(400, "Content-Length must be a whole number of bytes", info)
        request.max_content_length = MAX_REQUEST_BYTES
        try:
            body = request.get_data()
        except RequestEntityTooLarge:
            return render_gateway_response(self.stack, "REQUEST_TOO_LARGE", info)
        except (ClientDisconnected, OSError):  # e.g. a malformed chunked body
            return error_response(400, "Malformed or incomplete request body", info)
        if info.method == "OPTIONS" and self.stack.cors:
            resources = self.router.resources(path)
            if resources:
                return self._preflight(info)
        matched = self.router.match(info.method, path)
        if matched is None:
            return render_gateway_response(self.stack, "MISSING_AUTHENTICATION_TOKEN", info)
        route, params = matched
        info.resource_path = route.path
        event = build_proxy_event(request, info, route, params, body)
        if route.authorizer:
            try:
                context = self.authorizers[route.authorizer].authorize(authorizer_event(event))
            except AuthorizerRejected as rejected:
                return render_gateway_response(
                    self.stack, rejected.kind, info, authorizer=rejected.context
                )
            event["requestContext"]["authorizer"] = {
                **context,
                "integrationLatency": int((time.perf_counter() - info.started) * 1000),
            }
        try:
            result = self.functions[route.function].invoke(event)
        except Exception:
            log.exception("%s raised", route.function)
            return render_gateway_response(self.stack, "DEFAULT_5XX", info)
        response = proxy_response(result, info.request_id)
        if response is None:
            log.error("%s returned a malformed proxy response", route.function)
            return render_gateway_response(self.stack, "DEFAULT_5XX", info)
        return response

    def _preflight(self, info: RequestInfo) -> Response:
        headers = Headers(self.stack.cors)
        headers["Content-Type"] = "application/json"
        headers["x-amzn-RequestId"] = info.request_id
        return Response(b"", status=200, headers=headers)


def _request_info(request: Request) -> RequestInfo:
    return RequestInfo(
        request_id=str(uuid.uuid4()),
        received=datetime.now(UTC),
        method=request.method.upper(),
        path=request.path if request.path == "/" else request.path.rstrip("/"),
        source_ip=request.remote_addr or "127.0.0.1",
        user_agent=request.user_agent.string,
    )


def error_body(status: int, details: str) -> bytes:
    """The API's error body (docs/api.md) for an error of the HTTP server itself."""
    return json.dumps(
        {
            "error": HTTPStatus(status).phrase,
            "details": details,
            "timestamp": _iso(datetime.now(UTC)),
        }
    ).encode()


def error_response(status: int, details: str, info: RequestInfo) -> Response:
    """The error body for a request the gateway refuses before any route."""
    headers = Headers({"Content-Type": "application/json", "x-amzn-RequestId": info.request_id})
    headers["Access-Control-Allow-Origin"] = "*"
    return Response(error_body(status, details), status=status_line(status), headers=headers)


class _RequestHandler(WSGIRequestHandler):
    """Keeps header names as the client sent them (API Gateway passes them unchanged), and
    answers what the HTTP server rejects itself (oversized headers, a malformed request
    line) with the API's error body instead of Python's HTML page."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        short, long = self.responses.get(code, ("", ""))
        if message and explain:
            details = f"{message}: {explain}"
        else:
            details = message or explain or long or short
        body = error_body(code, details)
        if self.request_version == "HTTP/0.9":  # the request line was not understood
            self.request_version = "HTTP/1.1"
        access_log.info("HTTP server refused a request: %d %s", code, details)
        self.close_connection = True
        self.send_response(code, short or None)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def run_wsgi(self) -> None:
        try:
            urlsplit(self.path)
        except ValueError as exc:  # werkzeug would drop the connection without an answer
            self.send_error(400, f"Malformed request target: {exc}")
            return
        super().run_wsgi()

    def make_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().make_environ()
        environ[RAW_HEADERS] = list(self.headers.items())
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The gateway logs requests itself."""


class GatewayServer(BackgroundServer):
    """The gateway on host:port, serving concurrently from threads of this process."""

    def __init__(self, gateway: Gateway, host: str, port: int) -> None:
        super().__init__(gateway, host, port, name="gateway", request_handler=_RequestHandler)
