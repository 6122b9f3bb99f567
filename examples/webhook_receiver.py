"""A matchq webhook receiver: verifies each delivery (Standard Webhooks) and prints it.

    MATCHQ_WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py --port 8765
    matchq webhook add http://127.0.0.1:8765/hook        # the local stack allows loopback

Standard library HTTP server plus the `standardwebhooks` package (pip install
standardwebhooks). A delivery whose signature or timestamp does not verify gets 401 and
is not printed; a verified one gets 204. Deliveries are at least once: the `webhook-id`
header is the same for every attempt of one state change, so a receiver that must act
once keeps the ids it has seen (this one drops repeats it saw since it started).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY = 1024 * 1024

Handler = Callable[[dict[str, Any], dict[str, str], float], None]


def make_server(secret: str, port: int = 0, on_event: Handler | None = None) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:`port` calling `on_event(event, headers, received_at)` for
    every verified, first-seen delivery (received_at: time.time() on arrival)."""
    verifier = Webhook(secret)
    seen: set[str] = set()
    lock = threading.Lock()

    class Receive(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received_at = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_error(413)
                return
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                event = verifier.verify(body, headers)
            except WebhookVerificationError as exc:
                self.send_error(401, str(exc))
                return
            self.send_response(204)
            self.end_headers()
            with lock:
                first = headers["webhook-id"] not in seen
                seen.add(headers["webhook-id"])
            if first and on_event is not None:
                on_event(event, headers, received_at)

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Receive)


def _print(event: dict[str, Any], headers: dict[str, str], received_at: float) -> None:
    job = event.get("data", {})
    print(
        f"{event['timestamp']} {event['type']:15} {job.get('id')} "
        f"progress={job.get('progress')} (webhook-id {headers['webhook-id']})",
        flush=True,
    )
    if os.environ.get("VERBOSE"):
        print(json.dumps(event, indent=2), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--secret", default=os.environ.get("MATCHQ_WEBHOOK_SECRET"))
    args = parser.parse_args()
    if not args.secret:
        parser.error("give --secret or set MATCHQ_WEBHOOK_SECRET (matchq webhook add prints it)")
    server = make_server(args.secret, args.port, _print)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
