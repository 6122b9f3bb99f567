"""EventBridge schedules of the template, run as timers in this process."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from matchq_local.lambda_runtime import LocalFunction
from matchq_local.template import ACCOUNT, REGION, physical_name

log = logging.getLogger("matchq.local")

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs of `rate(N unit)`; None for cron expressions."""
    match = re.fullmatch(r"\s*rate\(\s*(\d+)\s+([a-z]+)\s*\)\s*", expression)
    if not match:
        return None
    unit = match.group(2)
    if unit not in _UNITS:
        raise ValueError(f"unknown unit in schedule {expression!r}")
    return int(match.group(1)) * _UNITS[unit]


def scheduled_event(rule: str) -> dict[str, Any]:
    """The event EventBridge sends for a scheduled rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


class Schedule:
    """Invokes `function` every `interval` seconds (first run after one interval)."""

    def __init__(self, function: LocalFunction, interval: float) -> None:
        self.function = function
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"schedule-{function.spec.logical_id}", daemon=True
        )

    def start(self) -> Schedule:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout)

    def _run(self) -> None:
        rule = physical_name(self.function.spec.logical_id) + "-schedule"
        while not self._stop.wait(self.interval):
            try:
                result = self.function.invoke(scheduled_event(rule))
                log.info("maintenance: %s", result)
            except Exception:
                log.exception("%s failed", self.function.spec.logical_id)
