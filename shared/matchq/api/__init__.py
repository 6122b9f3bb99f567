"""What every API function shares: the resolver, the caller, and the one error mapping.

Requests are validated by Powertools (`enable_validation=True`) against the pydantic models
and `Annotated` parameters of each route; the same code generates the OpenAPI document
(`matchq.api.openapi`, committed as docs/openapi.json). Every error leaves as the error
body of docs/api.md, `{"error", "details", "timestamp"}`, from this module only.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from matchq.api.schemas import ERROR_RESPONSES, describe_errors
from matchq.errors import MatchqError, PayloadTooLarge, ValidationFailed
from matchq.models import iso, utcnow
from matchq.observability import logger, metrics, start_invocation, tag
from matchq.settings import api_settings

if TYPE_CHECKING:
    from matchq.auth import Principal

__all__ = [
    "ERROR_RESPONSES",
    "create_app",
    "current_principal",
    "error_response",
    "lambda_entry",
]

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 256 * 1024
CORS = CORSConfig(
    allow_origin="*",
    allow_headers=["Authorization", "Content-Type"],
    expose_headers=["X-Next-Token"],
    max_age=600,
)


def error_response(status: HTTPStatus, details: str) -> Response[str]:
    """The error body: reason phrase, details, ISO timestamp."""
    body = {"error": status.phrase, "details": details, "timestamp": iso(utcnow())}
    return Response(
        status_code=status.value, content_type="application/json", body=json.dumps(body)
    )


def _reject_constant(name: str) -> Any:
    raise ValidationFailed(f"Request body is not valid JSON: {name} is not a JSON number")


def parse_json_body(text: str) -> Any:
    """A request body as JSON, or ValidationFailed saying why not (never a 5xx)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
        # A lone surrogate ("\ud800") decodes but can be neither stored nor sent on.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"Request body is not valid JSON: {exc.msg} at position {exc.pos}"
        ) from None
    except RecursionError:
        raise ValidationFailed("Request body is not valid JSON: it is nested too deeply") from None
    except UnicodeEncodeError:
        raise ValidationFailed(
            "Request body is not valid JSON text: it holds an unpaired surrogate escape"
        ) from None
    return value


class ApiEvent(APIGatewayProxyEvent):
    """A REST proxy event whose body is checked before anything parses it: size, UTF-8."""

    @cached_property
    def decoded_body(self) -> str | None:
        body: str | None = self.body
        if not body:
            return body
        if not self.is_base64_encoded:
            if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
                raise PayloadTooLarge(f"Request body exceeds {MAX_BODY_BYTES} bytes")
            return body
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("Request body is not valid base64") from None
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"Request body exceeds {MAX_BODY_BYTES} bytes")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                f"Request body is not valid UTF-8 (byte {exc.start}); send JSON text"
            ) from None


class JsonBodyValidation(OpenAPIRequestValidationMiddleware):
    """Request validation that reads every body as JSON, whatever its Content-Type says
    (`curl -d` sends form encoding): the API takes JSON only (docs/api.md)."""

    def _get_body(self, app: Any) -> Any:
        return app.current_event.json_body


class ApiResolver(APIGatewayRestResolver):
    """Powertools' REST resolver with validation on, reading events as `ApiEvent`."""

    def __init__(self) -> None:
        super().__init__(
            cors=CORS,
            enable_validation=True,
            # An answer that breaks its own schema is our bug: a 500, never the caller's 400.
            response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR,
            json_body_deserializer=parse_json_body,
        )
        self._request_validation_middleware = JsonBodyValidation()

    def _to_proxy_event(self, event: dict[str, Any]) -> ApiEvent:
        return ApiEvent(event, self._json_body_deserializer)


def create_app() -> APIGatewayRestResolver:
    """A resolver with CORS, validation and the error mapping every API function uses.

    Reads the API settings at once, so a function missing a variable fails at start.
    """
    api_settings()
    app = ApiResolver()

    @app.exception_handler(MatchqError)
    def _domain_error(exc: MatchqError) -> Response[str]:
        if exc.status >= 500:
            logger.error("request failed", extra={"details": exc.details})
        return error_response(exc.status, exc.details)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        return error_response(HTTPStatus.BAD_REQUEST, describe_errors(exc.errors()))

    @app.exception_handler(ResponseValidationError)
    def _invalid_response(exc: ResponseValidationError) -> Response[str]:
        logger.error("response breaks its schema", extra={"errors": describe_errors(exc.errors())})
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, "An internal error occurred; please retry later"
        )

    @app.not_found
    def _no_route(_exc: NotFoundError) -> Response[str]:
        return error_response(
            HTTPStatus.NOT_FOUND,
            f"No route for {app.current_event.http_method} {app.current_event.path}",
        )

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unexpected error")
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, "An internal error occurred; please retry later"
        )

    return app


def current_principal(app: APIGatewayRestResolver) -> Principal:
    # matchq.auth imports PyJWT and cryptography, which only the authorizer uses: loaded
    # with the services on the first request, not at the function's start.
    from matchq.auth import principal_from_event

    principal = principal_from_event(app.current_event.raw_event)
    tag(user_id=principal.user_id)
    return principal


def lambda_entry(
    app: APIGatewayRestResolver,
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler of an API function: logging and metrics around the resolver.

    No Powertools tracer: its X-Ray SDK costs a quarter of a second of every cold start;
    Lambda's active tracing still records each invocation (matchq.observability).
    """

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        start_invocation()
        return app.resolve(event, context)

    return handler
