"""Time to first data of each web console page, in headless Chromium on the local stack.

Starts `matchq serve` on free ports, submits a few jobs through the SDK (one on the sample
files, so its page has a summary, a histogram and a preview), then loads each page afresh
(`about:blank` first, so every load is a page load with the browser's cache warm, as a
returning user's) and reads the `console:<view>` measures the page sets: from navigation
start to the view's first data on screen (docs/console.md, "Timings").

Usage: python benchmarks/bench_console.py [--loads 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "src")]

from matchq.auth import issue_token  # noqa: E402
from matchq_client import MatchqClient  # noqa: E402
from matchq_local.launch import StackFailed, background_stack  # noqa: E402
from tests.e2e.browser import BrowserMissing, chromium  # noqa: E402
from tests.e2e.e2e_support import SAMPLE_CONFIG, TINY_CONFIG, tiny_files  # noqa: E402

SAMPLES = ROOT / "samples"
MEASURED = "return performance.getEntriesByName(arguments[0]).map(m => m.duration)"


def load_until(driver: Any, address: str, measures: list[str]) -> list[float]:
    """Load `address` afresh; the duration of each measure once the page has set them all."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    driver.get(address)
    found: list[float] = []
    for name in measures:
        durations = WebDriverWait(driver, 30, poll_frequency=0.02).until(
            lambda d, n=name: d.execute_script(MEASURED, n)
        )
        found.append(float(durations[-1]))
    return found


def row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"| {name} | {statistics.median(values):.0f} | {p90:.0f} | "
        f"{ordered[0]:.0f} | {ordered[-1]:.0f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=10, help="page loads per view")
    args = parser.parse_args()
    try:
        with background_stack(workers=1) as stack:
            token = issue_token(stack.secret, "bench-console", ttl_seconds=3600)
            root = stack.base_url.removesuffix("/api/v1") + "/"
            with MatchqClient(stack.base_url, token) as api, tempfile.TemporaryDirectory() as tmp:
                left, right = tiny_files(Path(tmp))
                for i in range(5):
                    ids = {"file1": api.upload_file(left), "file2": api.upload_file(right)}
                    api.submit_job(f"tiny {i}", {**TINY_CONFIG, **ids})
                job_id = api.submit_files(
                    SAMPLES / "crm_customers.csv",
                    SAMPLES / "billing_accounts.csv",
                    SAMPLE_CONFIG,
                    name="samples",
                )
                api.wait(job_id, timeout=120)
            results: dict[str, list[float]] = {}
            with chromium() as driver:
                driver.get(f"{root}#token={token}")  # signs this tab in
                pages = [
                    (f"{root}#/", ["console:jobs"]),
                    (f"{root}#/new", ["console:submit"]),
                    (f"{root}#/jobs/{job_id}", ["console:job", "console:job:results"]),
                ]
                for address, measures in pages:
                    load_until(driver, address, measures)  # warm-up load
                    for _ in range(args.loads):
                        for name, value in zip(
                            measures, load_until(driver, address, measures), strict=True
                        ):
                            results.setdefault(name, []).append(value)
                version = driver.capabilities.get("browserVersion", "?")
    except (StackFailed, BrowserMissing) as exc:
        raise SystemExit(str(exc)) from None
    print(
        f"web console, time to first data (ms; {args.loads} fresh loads each, "
        f"headless Chromium {version}, local stack)"
    )
    print("| page (measure) | median | p90 | min | max |")
    print("| --- | --- | --- | --- | --- |")
    labels = {
        "console:jobs": "jobs table + stats (console:jobs)",
        "console:submit": "submit form (console:submit)",
        "console:job": "job page, state (console:job)",
        "console:job:results": "job page, summary + histogram + preview (console:job:results)",
    }
    for name, values in results.items():
        print(row(labels[name], values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
