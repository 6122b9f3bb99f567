"""`matchq webhook add|list|delete` on a fake API: requests, output, exit statuses."""

from __future__ import annotations

import json

import httpx

from tests.unit.test_cli import FakeApi, Run, api, matchq  # noqa: F401 (fixtures)

WH = "wh_12345678-1234-4234-8234-123456789abc"
HOOK = {
    "webhook_id": WH,
    "url": "https://example.com/hook",
    "events": ["completed", "failed"],
    "created_at": "2026-01-01T00:00:00Z",
}


def test_add_sends_url_and_events_and_prints_the_secret_once(api: FakeApi, matchq) -> None:  # noqa: F811
    api.on("POST", "/webhooks", httpx.Response(201, json={**HOOK, "secret": "whsec_abc"}))
    run: Run = matchq("webhook", "add", "https://example.com/hook", "--events", "completed,failed")
    assert run.code == 0, run.err
    assert json.loads(api.requests[0].content) == {
        "url": "https://example.com/hook",
        "events": ["completed", "failed"],
    }
    assert WH in run.out and "whsec_abc" in run.out
    run = matchq("webhook", "add", "https://example.com/hook", "--json")
    assert run.json()["secret"] == "whsec_abc"
    assert "events" not in json.loads(api.requests[1].content)


def test_list_and_delete(api: FakeApi, matchq) -> None:  # noqa: F811
    api.on("GET", "/webhooks", httpx.Response(200, json={"webhooks": [{**HOOK, "secret": None}]}))
    api.on(
        "DELETE",
        f"/webhooks/{WH}",
        httpx.Response(200, json={"success": True, "webhook_id": WH, "message": "ok"}),
    )
    run = matchq("webhook", "list", "--json")
    assert run.code == 0 and run.json()[0]["webhook_id"] == WH and "secret" not in run.json()[0]
    assert matchq("webhook", "delete", WH).code == 0


def test_api_errors_exit_1_and_usage_errors_exit_2(api: FakeApi, matchq) -> None:  # noqa: F811
    api.on(
        "DELETE",
        f"/webhooks/{WH}",
        httpx.Response(
            403, json={"error": "Forbidden", "details": "Access denied", "timestamp": "x"}
        ),
    )
    run = matchq("webhook", "delete", WH)
    assert run.code == 1 and "403" in run.err
    assert matchq("webhook", "add", "https://example.com", "--events", "exploded").code == 2
    assert len(api.requests) == 1  # the usage error sent nothing
