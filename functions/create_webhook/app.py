"""POST /webhooks: register a URL told of the caller's job state changes (signed)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from matchq.api import ERROR_RESPONSES, create_app, current_principal, lambda_entry
from matchq.api.schemas import WebhookView, answers
from matchq.models import WebhookRequest
from matchq.services.wiring import webhook_service

app = create_app()


@app.post(
    "/api/v1/webhooks",
    summary="Register a webhook",
    responses=answers(201, "Registered; the answer holds its secret, shown once", ERROR_RESPONSES),
)
def create_webhook(request: Annotated[WebhookRequest, Body()]) -> tuple[WebhookView, int]:
    return webhook_service().create(current_principal(app), request), 201


lambda_handler = lambda_entry(app)
