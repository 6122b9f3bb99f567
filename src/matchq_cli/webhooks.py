"""`matchq webhook add|list|delete`: the caller's webhooks (docs/api.md, "Webhooks and events")."""

from __future__ import annotations

import click

from matchq_cli import render
from matchq_cli.app import CONTEXT_SETTINGS, Globals, Group, command, open_client, pass_globals
from matchq_client import Webhook

EVENTS = ("running", "completed", "failed", "cancelled")


def _events(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    events = [e.strip() for e in value.split(",") if e.strip()]
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        raise click.BadParameter(f"expected a comma-separated subset of {','.join(EVENTS)}")
    return events


def _as_dict(hook: Webhook) -> dict[str, object]:
    answer: dict[str, object] = {
        "webhook_id": hook.webhook_id,
        "url": hook.url,
        "events": list(hook.events),
        "created_at": hook.created_at.isoformat() if hook.created_at else None,
    }
    if hook.secret is not None:
        answer["secret"] = hook.secret
    return answer


@command(
    "add",
    "register a URL told of your jobs' state changes (signed; the secret is shown once)",
    """
  matchq webhook add https://example.com/matchq-events
  matchq webhook add https://example.com/hook --events completed,failed --json
""",
)
# not `url`: that is the global --url option's name
@click.argument("hook_url", metavar="URL")
@click.option(
    "--events",
    callback=_events,
    metavar="LIST",
    help="comma-separated: running,completed,failed,cancelled (default all)",
)
@pass_globals
def add(state: Globals, hook_url: str, events: list[str] | None) -> int:
    with open_client(state) as api:
        hook = api.create_webhook(hook_url, events)
    if state.json:
        print(render.to_json(_as_dict(hook)))
    else:
        print(f"{hook.webhook_id} {hook.url} ({','.join(hook.events)})")
        print(f"secret: {hook.secret}  (shown once: keep it to verify the signatures)")
    return 0


@command(
    "list",
    "your webhooks, without their secrets",
    """
  matchq webhook list
  matchq webhook list --json | jq '.[].url'
""",
)
@pass_globals
def list_(state: Globals) -> int:
    with open_client(state) as api:
        hooks = api.list_webhooks()
    if state.json:
        print(render.to_json([_as_dict(h) for h in hooks]))
    else:
        for hook in hooks:
            print(f"{hook.webhook_id} {hook.url} ({','.join(hook.events)})")
    return 0


@command(
    "delete",
    "remove a webhook; nothing more is delivered to it",
    """
  matchq webhook delete wh_0f8c...
""",
)
@click.argument("webhook_id", metavar="WEBHOOK_ID")
@pass_globals
def delete(state: Globals, webhook_id: str) -> int:
    with open_client(state) as api:
        api.delete_webhook(webhook_id)
    print(
        render.to_json({"success": True, "webhook_id": webhook_id})
        if state.json
        else f"deleted {webhook_id}"
    )
    return 0


webhook = Group(
    "webhook",
    help="Your webhooks: signed POSTs of your jobs' state changes.",
    epilog="examples:\n"
    "matchq webhook add https://example.com/hook --events completed,failed\n"
    "matchq webhook list\n"
    "matchq webhook delete wh_0f8c...",
    context_settings=CONTEXT_SETTINGS,
    commands=[add, list_, delete],
)

COMMANDS = [webhook]
