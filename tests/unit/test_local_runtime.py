"""The local Lambda runtime: concurrent invocations in one process stay apart."""

from __future__ import annotations

import io
import json
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from matchq_local.lambda_runtime import LocalFunction
from matchq_local.template import FunctionSpec

# A handler as ours are written: the package's logger, state cleared per invocation, the
# job tagged with `matchq.observability.tag`. The event carries a barrier, so both
# invocations have tagged their job before either logs.
TAGGING_HANDLER = """
    from matchq.observability import logger, tag

    @logger.inject_lambda_context(clear_state=True)
    def lambda_handler(event, context):
        tag(job_id=event["job_id"])
        event["barrier"].wait(timeout=10)
        logger.warning("tagged")
        event["barrier"].wait(timeout=10)
        logger.warning("finished")
        return event["job_id"]
"""


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """What the package's logger writes, while the test runs."""
    from matchq.observability import logger

    stream = io.StringIO()
    handler = logger.registered_handler
    assert hasattr(handler, "setStream")
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def test_concurrent_invocations_never_log_each_others_job(
    tmp_path: Path, log_stream: io.StringIO
) -> None:
    (tmp_path / "app.py").write_text(textwrap.dedent(TAGGING_HANDLER))
    function = LocalFunction(
        FunctionSpec("TaggingFunction", tmp_path, "app.lambda_handler", 29, 128, {})
    )
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def run(job_id: str) -> None:
        results[job_id] = function.invoke({"job_id": job_id, "barrier": barrier})

    threads = [threading.Thread(target=run, args=(job,)) for job in ("job_a", "job_b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == {"job_a": "job_a", "job_b": "job_b"}

    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    by_request: dict[str, set[str]] = {}
    for line in lines:
        by_request.setdefault(line["function_request_id"], set()).add(line.get("job_id", "-"))
    assert len(lines) == 4
    # Two invocations, each of whose lines name its own job only.
    assert sorted(by_request.values(), key=sorted) == [{"job_a"}, {"job_b"}]


# Two API functions as ours are written (a powertools resolver per function). The event
# carries a barrier, so both requests are being resolved before either reads its body.
ECHO_HANDLER = """
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    app = APIGatewayRestResolver()

    @app.post("/echo")
    def echo():
        app.current_event.raw_event["barrier"].wait(timeout=10)
        return {"body": app.current_event.json_body, "function": NAME}

    def lambda_handler(event, context):
        return app.resolve(event, context)
"""


def test_concurrent_requests_to_two_api_functions_each_see_their_own_event(
    tmp_path: Path,
) -> None:
    functions = {}
    for name in ("EchoOne", "EchoTwo"):
        (tmp_path / name).mkdir()
        code = textwrap.dedent(ECHO_HANDLER).replace("NAME", repr(name))
        (tmp_path / name / "app.py").write_text(code)
        functions[name] = LocalFunction(
            FunctionSpec(name, tmp_path / name, "app.lambda_handler", 29, 128, {})
        )
    barrier = threading.Barrier(2)
    answers: dict[str, Any] = {}

    def request(name: str) -> None:
        event = {
            "httpMethod": "POST",
            "path": "/echo",
            "resource": "/echo",
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"sent_to": name}),
            "isBase64Encoded": False,
            "requestContext": {"requestId": name, "stage": "prod"},
            "barrier": barrier,
        }
        answers[name] = json.loads(functions[name].invoke(event)["body"])

    threads = [threading.Thread(target=request, args=(name,)) for name in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert answers == {name: {"body": {"sent_to": name}, "function": name} for name in functions}
