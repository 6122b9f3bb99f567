"""A scripted fake of the API and of S3 under the CLI's and the SDK's unit tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

BASE = "http://api.test/api/v1"
S3 = "http://s3.test/bucket"
JOB_ID = "job_12345678-1234-4234-8234-123456789abc"

Answer = httpx.Response | BaseException | Callable[[httpx.Request], httpx.Response]


class FakeApi:
    """Answers "METHOD host/path" from a script (its last answer repeats); records requests."""

    def __init__(self) -> None:
        self.script: dict[str, list[Answer]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Answer) -> None:
        url = httpx.URL(path if path.startswith("http") else BASE + path)
        self.script[f"{method} {url.host}{url.path}"] = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.script.get(f"{request.method} {request.url.host}{request.url.path}")
        if not queue:
            return httpx.Response(404, json={"error": "Not Found", "details": "no such route"})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer(request) if callable(answer) else answer

    def routes(self) -> list[str]:
        return [f"{r.method} {r.url.host}{r.url.path}" for r in self.requests]

    def submitted(self) -> tuple[dict[str, Any], httpx.Request]:
        """The body and request of the one submit made."""
        (request,) = [r for r in self.requests if r.url.path.endswith("/jobs/submit")]
        return json.loads(request.content), request


@dataclass
class Run:
    """What one `matchq` run gave: exit status, stdout, stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)
