"""A headless Chromium driven by Selenium, for the web console's tests and benchmark.

The browser is Debian's `chromium` and `chromium-driver`, which `make setup` installs
(scripts/setup-browser) when it runs as root. Without them the browser tests fail and say
so; they are never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("MATCHQ_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("MATCHQ_CHROMEDRIVER", "/usr/bin/chromedriver"))
PAGE_LOAD_SECONDS = 30
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".matchq" / "artifacts" / "console"  # git-ignored (.matchq/)


class BrowserMissing(RuntimeError):
    """Chromium or its driver is not installed."""


def missing() -> str | None:
    """Why no browser can run here; None when one can."""
    try:
        import selenium  # noqa: F401
    except ModuleNotFoundError:
        return "the selenium package is missing: run `make setup` (it is in the dev extra)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (path.exists() and os.access(path, os.X_OK)):
            return (
                f"{path} is missing: run `make setup` as root (scripts/setup-browser installs "
                f"Debian's {package}), or apt-get install chromium chromium-driver"
            )
    return None


@contextmanager
def chromium(width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium (Selenium WebDriver) with its console log readable."""
    reason = missing()
    if reason:
        raise BrowserMissing(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    log = ARTIFACTS / "chromedriver.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(log))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(PAGE_LOAD_SECONDS)
        driver.set_script_timeout(PAGE_LOAD_SECONDS)
        yield driver
    finally:
        driver.quit()
