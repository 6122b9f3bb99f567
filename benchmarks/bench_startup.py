"""Start-up time: the import of every Lambda function, the CLI and the client library.

Each measurement is the median, over --runs fresh interpreters, of the wall time of
`subprocess.run` around one start (monotonic clock), so interpreter start-up is included;
the budgets apply to it. The `cpu` column (user + system time of the child) is shown too:
it moves much less than wall time when other work shares the machine.
Every function gets the environment template.yaml gives it (as tests/unit/test_cold_start.py
builds it) with tracing enabled, as in the cloud (POWERTOOLS_TRACE_DISABLED unset);
--no-tracing measures with POWERTOOLS_TRACE_DISABLED=true as well. Budgets: 400 ms per API
function, 300 ms for `matchq --help` and `import matchq_client`; the worker is shown for
information. The machine is shared: the runs are interleaved, so a burst of load spreads
over every target instead of landing on one, and the median ignores the odd slow start.
One unmeasured start of each comes first, which also writes the bytecode caches (as an
installed package has them).

Usage: python benchmarks/bench_startup.py [--runs 11] [--no-tracing] [--only NAME,...]
       python benchmarks/bench_startup.py --importtime FOLDER [--no-tracing]
Exit status 1 if a median is over its budget or a start fails (--no-fail to report only).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "src")]

from matchq_local.template import load_stack  # noqa: E402

API_BUDGET_MS = 400.0
CLIENT_BUDGET_MS = 300.0
WORKER = "worker"
# Imports app.py as the Lambda runtime does: a module from a file, not a package.
LOAD_APP = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
"""


@dataclass
class Target:
    name: str
    argv: list[str]
    env: dict[str, str]
    budget_ms: float | None
    times_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # user + system time of the child
    error: str | None = None  # the last lines of stderr of a start that failed

    def run_once(self) -> None:
        if self.error is not None:
            return
        cpu_before = _children_cpu_seconds()
        start = time.perf_counter()
        done = subprocess.run(self.argv, env=self.env, capture_output=True, text=True)
        elapsed = (time.perf_counter() - start) * 1000
        cpu = (_children_cpu_seconds() - cpu_before) * 1000
        if done.returncode != 0:
            self.error = "\n".join(done.stderr.strip().splitlines()[-3:]) or "no output"
            return
        self.times_ms.append(elapsed)
        self.cpu_ms.append(cpu)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def function_environments() -> dict[str, dict[str, str]]:
    """The environment template.yaml gives each function, by folder under functions/."""
    stack = load_stack("http://127.0.0.1:1")
    return {
        spec.code_dir.name: {k: v for k, v in spec.environment.items() if v}
        for spec in stack.functions.values()
    }


def lambda_env(template_env: dict[str, str], tracing: bool) -> dict[str, str]:
    env = {
        **template_env,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(ROOT / "shared"),
        "PATH": "",
    }
    if not tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def function_targets(tracing: bool) -> list[Target]:
    envs = function_environments()
    folders = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    suffix = "" if tracing else " (no tracing)"
    return [
        Target(
            name=f"{folder}{suffix}",
            argv=[sys.executable, "-c", LOAD_APP, str(ROOT / "functions" / folder / "app.py")],
            env=lambda_env(envs[folder], tracing),
            budget_ms=None if folder == WORKER else API_BUDGET_MS,
        )
        for folder in folders
    ]


def client_targets() -> list[Target]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MATCHQ_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    bin_dir = Path(sys.executable).parent
    return [
        Target("matchq --help", [str(bin_dir / "matchq"), "--help"], env, CLIENT_BUDGET_MS),
        Target(
            "import matchq_client",
            [sys.executable, "-c", "import matchq_client"],
            env,
            CLIENT_BUDGET_MS,
        ),
    ]


def baseline_target() -> Target:
    """A bare interpreter: what every start costs before any import of ours."""
    return Target("python -c pass", [sys.executable, "-c", "pass"], {"PATH": ""}, None)


def measure(targets: list[Target], runs: int, progress: Callable[[int], None]) -> None:
    for target in targets:  # one unmeasured start each: bytecode caches, page cache
        target.run_once()
        target.times_ms.clear()
        target.cpu_ms.clear()
    for round_ in range(runs):
        for target in targets:
            target.run_once()
        progress(round_ + 1)


def report(targets: list[Target]) -> bool:
    width = max(len(t.name) for t in targets)
    print(f"{'start':<{width}}  {'median':>8}  {'min':>7}  {'max':>7}  {'cpu':>7}  budget")
    ok = True
    for t in targets:
        if t.error is not None:
            ok = False
            print(f"{t.name:<{width}}  did not start: FAIL")
            print("    " + t.error.replace("\n", "\n    "))
            continue
        verdict = ""
        if t.budget_ms is not None:
            passed = t.median_ms <= t.budget_ms
            ok = ok and passed
            verdict = f"{t.budget_ms:.0f} ms {'pass' if passed else 'FAIL'}"
        print(
            f"{t.name:<{width}}  {t.median_ms:6.0f}ms  {min(t.times_ms):5.0f}ms  "
            f"{max(t.times_ms):5.0f}ms  {statistics.median(t.cpu_ms):5.0f}ms  {verdict}"
        )
    return ok


def importtime(folder: str, tracing: bool, top: int) -> None:
    """The slowest imports (cumulative) of one function's app.py, by `python -X importtime`."""
    env = lambda_env(function_environments()[folder], tracing)
    app = str(ROOT / "functions" / folder / "app.py")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", LOAD_APP, app],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_field, cumulative_field, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative_field), int(self_field), name.rstrip()))
    # Top-level imports are indented by one space, those they import by more.
    total_us = sum(c for c, _, name in rows if len(name) - len(name.lstrip()) == 1)
    print(f"{folder}: {total_us / 1000:.0f} ms of imports; the slowest, by cumulative time:")
    for cumulative_us, self_us, name in sorted(rows, reverse=True)[:top]:
        print(f"{cumulative_us / 1000:8.1f} ms cumulative {self_us / 1000:7.1f} ms self  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="fresh starts per target")
    parser.add_argument(
        "--no-tracing", action="store_true", help="also with POWERTOOLS_TRACE_DISABLED=true"
    )
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even over budget")
    parser.add_argument(
        "--importtime", metavar="FOLDER", help="the slowest imports of one function"
    )
    parser.add_argument("--only", metavar="NAMES", help="comma-separated start names to measure")
    args = parser.parse_args()
    if args.importtime:
        importtime(args.importtime, tracing=not args.no_tracing, top=40)
        return

    targets = [baseline_target(), *function_targets(tracing=True)]
    if args.no_tracing:
        targets += function_targets(tracing=False)
    targets += client_targets()
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        targets = [t for t in targets if t.name.removesuffix(" (no tracing)") in wanted]
    print(f"start-up: median of {args.runs} fresh interpreters per line ({sys.executable})")
    measure(targets, args.runs, lambda n: print(f"  round {n}/{args.runs}", file=sys.stderr))
    ok = report(targets)
    if not ok and not args.no_fail:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
