"""GET /webhooks: the caller's webhooks, without their secrets."""

from matchq.api import ERROR_RESPONSES, create_app, current_principal, lambda_entry
from matchq.api.schemas import WebhookList, answers
from matchq.services.wiring import webhook_service

app = create_app()


@app.get(
    "/api/v1/webhooks",
    summary="List your webhooks",
    responses=answers(200, "The caller's webhooks, oldest first", ERROR_RESPONSES),
)
def list_webhooks() -> WebhookList:
    return WebhookList(webhooks=webhook_service().list(current_principal(app)))


lambda_handler = lambda_entry(app)
