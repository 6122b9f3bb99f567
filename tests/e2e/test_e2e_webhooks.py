"""Webhooks on the local stack: a loopback receiver gets signed job.running and
job.completed deliveries of a tiny job, through the notifier and delivery functions the
template defines (and the local stack runs from it)."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from examples.webhook_receiver import make_server
from matchq_client import MatchqClient
from tests.e2e.e2e_support import TINY_CONFIG, Stack, tiny_files, wait_job, wait_until

pytestmark = pytest.mark.e2e


def test_a_tiny_job_is_delivered_signed_to_a_loopback_webhook(
    stack: Stack, api: MatchqClient, tmp_path: Path
) -> None:
    received: list[tuple[dict[str, Any], dict[str, str], float]] = []
    # The secret is known only after registration: register, then serve with it.
    holder: dict[str, Any] = {}
    probe = make_server("whsec_" + "A" * 44, 0)
    port = probe.server_address[1]
    probe.server_close()
    hook = api.create_webhook(f"http://127.0.0.1:{port}/hook", ["running", "completed"])
    assert hook.secret and hook.secret.startswith("whsec_")
    server = make_server(hook.secret, port, lambda e, h, t: received.append((e, h, t)))
    holder["thread"] = threading.Thread(target=server.serve_forever, daemon=True)
    holder["thread"].start()
    try:
        assert [w.webhook_id for w in api.list_webhooks()] == [hook.webhook_id]
        left, right = tiny_files(tmp_path)
        config = {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)}
        job_id = api.submit_job("webhook e2e", config)
        assert wait_job(api, job_id, timeout=60).status == "completed"
        wait_until(lambda: len(received) >= 2, timeout=30, what="two deliveries")
        assert [e["type"] for e, _, _ in received] == ["job.running", "job.completed"]
        assert all(e["data"]["id"] == job_id for e, _, _ in received)
        assert len({h["webhook-id"] for _, h, _ in received}) == 2
        for event, _, at in received:
            changed = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            latency = at - changed.timestamp()
            print(f"{event['type']}: delivered {latency * 1000:.0f} ms after the change")
            assert 0 <= latency < 30
        assert api.delete_webhook(hook.webhook_id)
        assert api.list_webhooks() == []
    finally:
        server.shutdown()
        server.server_close()
