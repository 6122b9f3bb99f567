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
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from werkzeug.datastructures import Headers
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from matchq_local.lambda_runtime import FunctionRegistry
from matchq_local.serving import BackgroundServer
from matchq_local.template import ACCOUNT, REGION, AuthorizerSpec, LocalStack, Route

log = logging.getLogger("matchq.local")
access_log = logging.getLogger("matchq.local.access")

API_ID = "matchqlocal"
STAGE = "prod"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

# Status of each gateway response type when the template does not set one.
DEFAULT_STATUS = {
    "ACCESS_DENIED": 403,
    "UNAUTHORIZED": 401,
    "AUTHORIZER_FAILURE": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "REQUEST_TOO_LARGE": 413,
    "THROTTLED": 429,
    "BAD_REQUEST_BODY": 400,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
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
_CONTEXT_REF = re.compile(
    r"\$\{context\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\}|\$context\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)"
)


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
        params: dict[str, str] = {}
        rank: list[int] = []
        for i, segment in enumerate(self.segments):
            if segment.startswith("{") and segment.endswith("+}"):
                if i >= len(parts):
                    return None
                params[segment[1:-2]] = "/".join(parts[i:])
                rank.append(2)
                return tuple(rank), params
            if i >= len(parts):
                return None
            if segment.startswith("{") and segment.endswith("}"):
                params[segment[1:-1]] = parts[i]
                rank.append(1)
            elif segment == parts[i]:
                rank.append(0)
            else:
                return None
        if len(parts) != len(self.segments):
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
            if rank == best and route.method in {method, "ANY"}:
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

    def context(self) -> dict[str, str]:
        return {
            "requestId": self.request_id,
            "extendedRequestId": self.request_id,
            # API Gateway renders $context.requestTime in CLF ("27/Jan/2025:10:00:00 +0000").
            # Locally it is ISO-8601 with Z, because the contract requires that in every
            # error body; see the README of the local stack.
            "requestTime": _iso(self.received),
            "requestTimeEpoch": str(int(self.received.timestamp() * 1000)),
            "httpMethod": self.method,
            "path": f"/{STAGE}{self.path}",
            "resourcePath": self.resource_path,
            "stage": STAGE,
            "apiId": API_ID,
            "accountId": ACCOUNT,
            "identity.sourceIp": self.source_ip,
            "identity.userAgent": self.user_agent,
        }


def render_gateway_response(
    stack: LocalStack,
    kind: str,
    info: RequestInfo,
    *,
    authorizer: dict[str, Any] | None = None,
    message: str | None = None,
) -> Response:
    """The template's gateway response of `kind` (or its DEFAULT_4XX/5XX), rendered."""
    status = DEFAULT_STATUS.get(kind, 500)
    responses = stack.gateway_responses
    spec = (
        responses.get(kind) or responses.get("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX") or {}
    )
    status = int(spec.get("statusCode") or status)
    message = message or ERROR_MESSAGES.get(kind, HTTPStatus(status).phrase)
    values = info.context()
    values.update(
        {
            "error.message": message,
            "error.messageString": json.dumps(message),
            "error.responseType": kind,
        }
    )
    for key, value in (authorizer or {}).items():
        values[f"authorizer.{key}"] = str(value)
    templates = spec.get("responseTemplates") or {}
    template = templates.get("application/json") or '{"message":$context.error.messageString}'
    body = _CONTEXT_REF.sub(lambda m: values.get(m.group(1) or m.group(2), ""), template)
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


def _policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    """IAM evaluation of an authorizer policy for execute-api:Invoke on `method_arn`."""
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        actions = statement.get("Action") or []
        resources = statement.get("Resource") or []
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatchcase("execute-api:Invoke", a) or a == "*" for a in actions):
            continue
        if not any(fnmatchcase(method_arn, r) for r in resources):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return False
        allowed = allowed or effect == "allow"
    return allowed


class Authorizer:
    """A Lambda authorizer of the template, with API Gateway's result cache."""

    def __init__(self, spec: AuthorizerSpec, functions: FunctionRegistry) -> None:
        self.spec = spec
        self.function = functions[spec.function]
        self._cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _identity(self, request: Request, route_params: dict[str, str]) -> tuple[str, ...] | None:
        values = []
        for source in self.spec.identity_sources:
            value: str | None = None
            if source.startswith("method.request.header."):
                value = request.headers.get(source.removeprefix("method.request.header."))
            elif source.startswith("method.request.querystring."):
                value = request.args.get(source.removeprefix("method.request.querystring."))
            elif source.startswith("method.request.path."):
                value = route_params.get(source.removeprefix("method.request.path."))
            else:
                value = source  # stageVariables/context: constant for this stage
            if not value:
                return None
            values.append(value)
        return tuple(values)

    def authorize(
        self, event: dict[str, Any], request: Request, route_params: dict[str, str]
    ) -> dict[str, Any]:
        """The caller's context (plus principalId); raises AuthorizerRejected otherwise."""
        identity = self._identity(request, route_params)
        if identity is None:
            raise AuthorizerRejected("UNAUTHORIZED")  # API Gateway does not call the function
        cacheable = self.spec.ttl_seconds > 0 and bool(self.spec.identity_sources)
        answer = None
        if cacheable:
            with self._lock:
                cached = self._cache.get(identity)
            if cached and cached[0] > time.monotonic():
                answer = cached[1]
        if answer is None:
            if self.spec.kind == "token":
                event = {
                    "type": "TOKEN",
                    "authorizationToken": identity[0],
                    "methodArn": event["methodArn"],
                }
            try:
                answer = self.function.invoke(event)
            except Exception as exc:
                if str(exc) == "Unauthorized":
                    raise AuthorizerRejected("UNAUTHORIZED") from exc
                log.exception("authorizer %s failed", self.spec.name)
                raise AuthorizerRejected("AUTHORIZER_FAILURE") from exc
            if (
                not isinstance(answer, dict)
                or "policyDocument" not in answer
                or "principalId" not in answer
            ):
                log.error("authorizer %s returned no principalId/policyDocument", self.spec.name)
                raise AuthorizerRejected("AUTHORIZER_CONFIGURATION_ERROR")
            if cacheable:
                with self._lock:
                    self._cache[identity] = (time.monotonic() + self.spec.ttl_seconds, answer)
        context = {k: _context_value(v) for k, v in (answer.get("context") or {}).items()}
        if not _policy_allows(answer["policyDocument"], event["methodArn"]):
            raise AuthorizerRejected("ACCESS_DENIED", context)
        context["principalId"] = str(answer["principalId"])
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
        self.router = Router(stack.routes)
        self.authorizers = {
            name: Authorizer(spec, functions) for name, spec in stack.authorizers.items()
        }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        started = time.perf_counter()
        response = self.handle(request)
        access_log.info(
            "%s %s %s %.1f ms",
            request.method,
            request.full_path.rstrip("?"),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response(environ, start_response)  # type: ignore[no-any-return]

    def handle(self, request: Request) -> Response:
        path = request.path if request.path == "/" else request.path.rstrip("/")
        info = RequestInfo(
            request_id=str(uuid.uuid4()),
            received=datetime.now(UTC),
            method=request.method.upper(),
            path=path,
            source_ip=request.remote_addr or "127.0.0.1",
            user_agent=request.user_agent.string,
        )
        if request.content_length and request.content_length > MAX_REQUEST_BYTES:
            return render_gateway_response(self.stack, "REQUEST_TOO_LARGE", info)
        if info.method == "OPTIONS" and self.stack.cors:
            resources = self.router.resources(path)
            if resources:
                return self._preflight(info)
        matched = self.router.match(info.method, path)
        if matched is None:
            return render_gateway_response(self.stack, "MISSING_AUTHENTICATION_TOKEN", info)
        route, params = matched
        info.resource_path = route.path
        event = build_proxy_event(request, info, route, params, request.get_data())
        if route.authorizer:
            try:
                context = self.authorizers[route.authorizer].authorize(
                    authorizer_event(event), request, params
                )
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


class _RequestHandler(WSGIRequestHandler):
    """Keeps header names as the client sent them (API Gateway passes them unchanged)."""

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
