"""What API functions import at start (cold start): never the matching libraries, which only
the worker may load, nor the X-Ray SDK or boto3, which cost most of the start-up time.

These check which modules are loaded, not how long it takes: the times are measured by
`make bench` (benchmarks/bench_startup.py), never in tests, the machine being shared.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import ROOT

API_FUNCTIONS = sorted(
    p.parent.name for p in (ROOT / "functions").glob("*/app.py") if p.parent.name != "worker"
)
HEAVY = ("pandas", "numpy", "rapidfuzz", "openpyxl")
# The Powertools tracer's X-Ray SDK builds a botocore session; boto3 loads botocore's
# client machinery (and awscrt, where installed); PyJWT loads cryptography. API functions
# load them on first use.
SLOW_TO_START = ("aws_xray_sdk", "boto3", "s3transfer", "awscrt", "jwt", "cryptography")
PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2:])))
"""


def function_environment(folder: str) -> dict[str, str]:
    """The environment template.yaml gives the function in `functions/<folder>`."""
    from matchq_local.template import load_stack

    stack = load_stack("http://127.0.0.1:1")
    spec = next(s for s in stack.functions.values() if s.code_dir.name == folder)
    return {k: v for k, v in spec.environment.items() if v}


def loaded_modules(folder: str, roots: tuple[str, ...], *, tracing: bool = False) -> list[str]:
    """The modules under `roots` loaded by importing the function's app.py."""
    env = {
        **function_environment(folder),
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(ROOT / "shared"),
        "PATH": "",
    }
    if not tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "functions" / folder / "app.py"), *roots],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return list(json.loads(out.stdout))


@pytest.mark.parametrize("folder", API_FUNCTIONS)
def test_api_function_imports_without_matching_libraries(folder: str) -> None:
    assert loaded_modules(folder, HEAVY) == []


@pytest.mark.parametrize("folder", API_FUNCTIONS)
def test_api_function_imports_without_xray_sdk_or_boto3(folder: str) -> None:
    # Tracing enabled, as in the cloud (the template does not disable it).
    assert loaded_modules(folder, SLOW_TO_START, tracing=True) == []


def test_worker_is_still_traced() -> None:
    assert "aws_xray_sdk" in loaded_modules("worker", ("aws_xray_sdk",), tracing=True)
