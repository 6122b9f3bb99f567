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
