"""API functions must not load the matching libraries (cold start); only the worker may."""

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


def loaded_heavy_modules(folder: str) -> list[str]:
    env = {
        **function_environment(folder),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": str(ROOT / "shared"),
        "PATH": "",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "functions" / folder / "app.py"), *HEAVY],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return list(json.loads(out.stdout))


@pytest.mark.parametrize("folder", API_FUNCTIONS)
def test_api_function_imports_without_matching_libraries(folder: str) -> None:
    assert loaded_heavy_modules(folder) == []
