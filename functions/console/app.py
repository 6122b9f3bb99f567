"""GET / and GET /console/{asset}: the web console (docs/console.md), served without a token.

The page's files are packaged in static/ beside this file; the page signs in with a token
the user gives it, and calls the API on this same origin.
"""

from pathlib import Path

from aws_lambda_powertools.event_handler import Response

from matchq.api import create_app, lambda_entry
from matchq.services.console import Console, ConsoleResponse
from matchq.services.wiring import browser_origins

app = create_app()
console = Console(Path(__file__).parent / "static", connect_origins=browser_origins)


def _send(answer: ConsoleResponse) -> Response[str]:
    return Response(
        status_code=answer.status,
        content_type=answer.content_type,
        body=answer.body,
        headers=answer.headers,
    )


@app.get("/", include_in_schema=False)
def console_page() -> Response[str]:
    event = app.current_event
    return _send(console.page(event.request_context.path, event.headers.get("if-none-match")))


@app.get("/console/<asset>", include_in_schema=False)
def console_asset(asset: str) -> Response[str]:
    return _send(console.asset(asset, app.current_event.headers.get("if-none-match")))


lambda_handler = lambda_entry(app)
