"""What every API function shares: the resolver, the caller, and the one error mapping."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext

from matchq.auth import Principal, principal_from_event
from matchq.errors import MatchqError, PayloadTooLarge, ValidationFailed
from matchq.models import iso, utcnow
from matchq.observability import logger, metrics, start_invocation, tag, tracer

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 256 * 1024
CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Authorization", "Content-Type"],
    expose_headers=["X-Next-Token"],
    max_age=600,
)


def error_response(status: HTTPStatus, details: str) -> Response:
    """The contract's error body: reason phrase, details, ISO timestamp."""
    body = {"error": status.phrase, "details": details, "timestamp": iso(utcnow())}
    return Response(
        status_code=status.value, content_type="application/json", body=json.dumps(body)
    )


def json_response(
    body: Any, status: HTTPStatus = HTTPStatus.OK, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        status_code=status.value,
        content_type="application/json",
        body=json.dumps(body),
        headers=headers or {},
    )


def create_app() -> APIGatewayRestResolver:
    """A resolver with CORS and the error mapping every API function uses."""
    app = APIGatewayRestResolver(cors=CORS)

    @app.exception_handler(MatchqError)
    def _domain_error(exc: MatchqError) -> Response:
        if exc.status >= 500:
            logger.error("request failed", extra={"details": exc.details})
        return error_response(exc.status, exc.details)

    @app.not_found
    def _no_route(_exc: NotFoundError) -> Response:
        return error_response(
            HTTPStatus.NOT_FOUND,
            f"No route for {app.current_event.http_method} {app.current_event.path}",
        )

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unexpected error")
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, "An internal error occurred; please retry later"
        )

    return app


def current_principal(app: APIGatewayRestResolver) -> Principal:
    principal = principal_from_event(app.current_event.raw_event)
    tag(user_id=principal.user_id)
    return principal


def json_body(app: APIGatewayRestResolver, *, required: bool = True) -> Any:
    """The request body as JSON; 413 when too large, 400 when not JSON."""
    raw = app.current_event.decoded_body or ""
    if len(raw.encode() if isinstance(raw, str) else raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body exceeds {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        if required:
            raise ValidationFailed("Request body is required (a JSON object)")
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"Request body is not valid JSON: {exc.msg} at position {exc.pos}"
        ) from exc


def query_param(app: APIGatewayRestResolver, name: str) -> str | None:
    params = app.current_event.query_string_parameters or {}
    return params.get(name)


def int_param(app: APIGatewayRestResolver, name: str, *, default: int, low: int, high: int) -> int:
    raw = query_param(app, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be an integer between {low} and {high}") from exc
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be an integer between {low} and {high}")
    return value


def lambda_entry(
    app: APIGatewayRestResolver,
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler of an API function: logging, tracing and metrics around the resolver."""

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        start_invocation()
        return app.resolve(event, context)

    return handler
