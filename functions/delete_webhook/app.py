"""DELETE /webhooks/{webhook_id}: nothing more is delivered to it."""

from matchq.api import create_app, current_principal, lambda_entry
from matchq.api.schemas import WEBHOOK_ERRORS, WebhookDeleted, answers
from matchq.services.wiring import webhook_service

app = create_app()


@app.delete(
    "/api/v1/webhooks/<webhook_id>",
    summary="Delete a webhook",
    responses=answers(200, "Deleted; deliveries still queued for it are dropped", WEBHOOK_ERRORS),
)
def delete_webhook(webhook_id: str) -> WebhookDeleted:
    webhook_service().delete(current_principal(app), webhook_id)
    return WebhookDeleted(
        success=True, webhook_id=webhook_id, message="Webhook deleted successfully"
    )


lambda_handler = lambda_entry(app)
