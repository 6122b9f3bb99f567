"""The web console in a real browser (headless Chromium) against the local stack.

Each test drives the page as a user would: signs in by the address `matchq console`
prints, reads the jobs table, submits a job through the form with two files from disk,
opens it, cancels and deletes. Screenshots of each page go to .matchq/artifacts/console/
(git-ignored), with timings.json: how long each page took to show its first data
(`console:<view>` measures the page sets; docs/console.md).

The browser is Debian's chromium and chromium-driver (`make setup` installs them as root);
without them these tests fail, saying what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from matchq_client import MatchqClient
from tests.e2e.browser import ARTIFACTS, BrowserMissing, chromium
from tests.e2e.e2e_support import (
    SLOW_CONFIG,
    TINY_CONFIG,
    Stack,
    slow_files,
    tiny_files,
    wait_job,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

WAIT_SECONDS = 30
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
TIMINGS: dict[str, list[float]] = {}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        with chromium() as driver:
            yield driver
    except BrowserMissing as missing:
        pytest.fail(f"the web console's browser tests cannot run: {missing}", pytrace=False)
    finally:
        if TIMINGS:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


@pytest.fixture
def root(stack: Stack) -> str:
    """The console's address: the root of the API's origin."""
    return stack.base_url.removesuffix("/api/v1") + "/"


# ---------------------------------------------------------------- helpers


def wait(driver: Any, condition: Callable[[Any], Any], what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1).until(
        condition, message=f"timed out after {WAIT_SECONDS} s waiting for {what}"
    )


def css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def ready(driver: Any, name: str) -> float:
    """Wait until the page has measured `name` (its first data shown); the milliseconds."""
    script = "return performance.getEntriesByName(arguments[0]).map(m => m.duration)"
    durations = wait(driver, lambda d: d.execute_script(script, name), f"{name} to be measured")
    TIMINGS.setdefault(name, []).append(round(durations[-1], 1))
    print(f"{name}: {durations[-1]:.0f} ms to first data")
    return float(durations[-1])


def shot(driver: Any, name: str) -> None:
    """A screenshot of the whole page (the window stretched to it for a moment)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 120, size["height"]), 4000))
    try:
        driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    finally:
        driver.set_window_size(size["width"], size["height"])


def load(driver: Any, address: str) -> None:
    """A fresh page load of `address` (not a same-document fragment change)."""
    driver.get("about:blank")
    driver.get(address)


def sign_in(driver: Any, root: str, token: str) -> None:
    load(driver, f"{root}#token={token}")


def errors_logged(driver: Any) -> list[str]:
    """What the page logged at error level (CSP violations land here), favicon aside."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def unlabelled(driver: Any) -> list[str]:
    """Controls without an accessible name (a <label> or aria-label; buttons: their text)."""
    return list(
        driver.execute_script(
            """
            const named = (c) => (c.labels && c.labels.length) || c.getAttribute("aria-label")
              || (c.tagName === "BUTTON" && c.textContent.trim()) || c.closest("[hidden]");
            return [...document.querySelectorAll("input, select, textarea, button, progress")]
              .filter((c) => !named(c)).map((c) => c.id || c.outerHTML.slice(0, 80));
            """
        )
    )


def job_row_status(driver: Any, job_id: str) -> str | None:
    rows = all_css(driver, f'tr[data-job="{job_id}"]')
    return rows[0].get_attribute("data-status") if rows else None


def confirm(driver: Any) -> None:
    wait(driver, lambda d: css(d, "#confirm").get_attribute("open") is not None, "the dialog")
    css(driver, "#confirm-yes").click()


def tiny_job(api: MatchqClient, directory: Path, name: str) -> str:
    left, right = tiny_files(directory)
    config = {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)}
    return api.submit_job(name, config)


# ---------------------------------------------------------------- the page itself


def test_the_console_is_served_at_the_root_with_safe_headers(stack: Stack, root: str) -> None:
    page = httpx.get(root, timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert f"connect-src 'self' {stack.aws_endpoint}" in policy  # the bucket's uploads
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    script = httpx.get(f"{root}console/app.js", timeout=10)
    assert script.headers["content-type"].startswith("text/javascript")
    # and `make run` says where it is, on the line after the ready line
    lines = stack.log.read_text().splitlines()
    ready_at = next(i for i, line in enumerate(lines) if " ready at " in line)
    assert lines[ready_at + 1].startswith(
        f"web console at http://localhost:{httpx.URL(root).port}/"
    )


# ---------------------------------------------------------------- jobs table


def test_signing_in_by_address_shows_the_jobs_submitted_through_the_api(
    stack: Stack, browser: Any, root: str, api: MatchqClient, user: str, tmp_path: Path
) -> None:
    first = tiny_job(api, tmp_path / "a", "first from the API")
    second = tiny_job(api, tmp_path / "b", "second from the API")
    wait_job(api, first, timeout=WAIT_SECONDS)
    wait_job(api, second, timeout=WAIT_SECONDS)

    sign_in(browser, root, stack.token(user))
    ready(browser, "console:jobs")
    # The token left the address bar at once (no history entry, no bookmark).
    assert "token" not in browser.current_url
    wait(browser, lambda d: job_row_status(d, second) == "completed", "the second job's row")
    names = [a.text for a in all_css(browser, "#jobs-body tr td:first-child a")]
    assert names == ["second from the API", "first from the API"]  # newest first
    assert css(browser, "#who-name").text == f"Signed in as {user}"
    wait(browser, lambda d: css(d, "#stat-completed").text == "2", "the stats cards")
    assert css(browser, "#stat-workers").text == f"0 / {stack.workers}"
    shot(browser, "jobs")
    assert unlabelled(browser) == []

    # The status filter asks the API for one status only.
    from selenium.webdriver.support.ui import Select

    Select(css(browser, "#status-filter")).select_by_value("running")
    wait(browser, lambda d: "No running jobs" in css(d, "#jobs-body").text, "the filter")
    Select(css(browser, "#status-filter")).select_by_value("")
    wait(browser, lambda d: job_row_status(d, first) == "completed", "all jobs again")

    # Delete from the table, after a confirmation.
    css(browser, f'tr[data-job="{first}"] button').click()
    confirm(browser)
    wait(browser, lambda d: job_row_status(d, first) is None, "the deleted row to go")
    assert [j.id for j in api.list_jobs()] == [second]
    assert errors_logged(browser) == []


def test_the_table_pages_with_the_apis_next_token(
    stack: Stack, browser: Any, root: str, api: MatchqClient, user: str, tmp_path: Path
) -> None:
    ids = [tiny_job(api, tmp_path / str(i), f"paged {i}") for i in range(6)]
    sign_in(browser, root, stack.token(user))
    ready(browser, "console:jobs")
    from selenium.webdriver.support.ui import Select

    Select(css(browser, "#page-size")).select_by_value("5")
    wait(browser, lambda d: len(all_css(d, "#jobs-body tr[data-job]")) == 5, "a page of 5")
    assert job_row_status(browser, ids[0]) is None  # the oldest is on the next page
    css(browser, "#page-older").click()
    wait(browser, lambda d: job_row_status(d, ids[0]) is not None, "the second page")
    assert len(all_css(browser, "#jobs-body tr[data-job]")) == 1
    assert css(browser, "#page-older").get_attribute("disabled") is not None
    css(browser, "#page-newer").click()
    wait(browser, lambda d: job_row_status(d, ids[5]) is not None, "the first page again")
    for job_id in ids:
        wait_job(api, job_id, timeout=WAIT_SECONDS)


# ---------------------------------------------------------------- submit, watch, open


def test_a_job_submitted_through_the_form_completes_and_shows_its_results(
    stack: Stack, browser: Any, root: str, api: MatchqClient, user: str
) -> None:
    from selenium.webdriver.support.ui import Select

    sign_in(browser, root, stack.token(user))
    ready(browser, "console:jobs")
    css(browser, "#nav-new").click()
    ready(browser, "console:submit")
    css(browser, "#job-name").send_keys("crm vs billing from the console")
    css(browser, "#file1-input").send_keys(str(SAMPLES / "crm_customers.csv"))
    css(browser, "#file2-input").send_keys(str(SAMPLES / "billing_accounts.csv"))
    wait(browser, lambda d: all_css(d, "#file1-preview table"), "file 1's columns")
    wait(browser, lambda d: all_css(d, "#file2-preview table"), "file 2's columns")
    preview = css(browser, "#file1-preview table")
    assert "customer_name" in preview.find_element("css selector", "thead").text
    assert len(preview.find_elements("css selector", "tbody tr")) == 10
    assert "crm_customers.csv: 8 columns, csv" in css(browser, "#file1-status").text
    assert css(browser, "#file1-progress").get_attribute("value") == "100"

    # One mapping row is offered once both files are read; choose its columns.
    wait(browser, lambda d: all_css(d, "fieldset.mapping"), "the first mapping")
    (row,) = all_css(browser, "fieldset.mapping")
    Select(row.find_element("css selector", "select[id$='-file1']")).select_by_value(
        "customer_name"
    )
    Select(row.find_element("css selector", "select[id$='-file2']")).select_by_value("full_name")
    css(browser, "#add-mapping").click()
    second = all_css(browser, "fieldset.mapping")[1]
    Select(second.find_element("css selector", "select[id$='-file1']")).select_by_value("email")
    Select(second.find_element("css selector", "select[id$='-file2']")).select_by_value(
        "email_address"
    )
    Select(second.find_element("css selector", "select[id$='-type']")).select_by_value("exact")
    Select(css(browser, "#job-priority")).select_by_value("3")
    shot(browser, "submit")
    assert unlabelled(browser) == []
    css(browser, "#submit-job").click()

    # The job page: live until completed, then summary, histogram, preview and downloads.
    wait(browser, lambda d: "#/jobs/job_" in d.current_url, "the job page")
    job_id = browser.current_url.rsplit("/", 1)[-1]
    wait(browser, lambda d: all_css(d, "#download-list a"), "the download links")
    ready(browser, "console:job:results")
    job = api.get_job(job_id)
    assert (job.status, job.name, job.priority) == (
        "completed",
        "crm vs billing from the console",
        3,
    )
    bars = all_css(browser, "#histogram rect.bar")
    assert len(bars) == 20
    threshold = css(browser, "#histogram .marker.threshold")
    assert float(threshold.get_attribute("data-value")) == 80.0
    suggested = css(browser, "#histogram .marker.suggested")
    assert float(suggested.get_attribute("data-value")) == api.summary(job_id).suggested_threshold
    pairs = all_css(browser, "#preview-table tbody tr")
    assert len(pairs) == 20
    headers = css(browser, "#preview-table thead").text
    assert "Mapping 1" in headers and "Mapping 2" in headers  # per-mapping scores
    links = {
        a.get_attribute("data-name"): a.get_attribute("href")
        for a in all_css(browser, "#download-list a")
    }
    assert set(links) == {
        "matched_results.json",
        "unmatched_1.json",
        "unmatched_2.json",
        "summary.json",
    }
    for name, href in links.items():
        answer = httpx.get(href, timeout=10)
        assert answer.status_code == 200, name
    shot(browser, "job-completed")
    assert unlabelled(browser) == []

    # A fresh load of the job's own address, signed in already (the tab keeps the token).
    load(browser, f"{root}#/jobs/{job_id}")
    ready(browser, "console:job")
    ready(browser, "console:job:results")
    assert errors_logged(browser) == []


def test_a_running_job_is_cancelled_from_its_page(
    stack: Stack, browser: Any, root: str, api: MatchqClient, user: str, tmp_path: Path
) -> None:
    left, right = slow_files(tmp_path)
    job_id = api.submit_files(left, right, SLOW_CONFIG, name="slow one")
    waiting = tiny_job(api, tmp_path / "tiny", "waits behind it")  # one worker slot
    sign_in(browser, root, stack.token(user))
    ready(browser, "console:jobs")
    wait(browser, lambda d: job_row_status(d, job_id) == "running", "the slow job to run")
    assert job_row_status(browser, waiting) == "pending"
    position = (
        httpx.get(
            f"{stack.base_url}/jobs/{waiting}", headers={"Authorization": f"Bearer {api.token}"}
        )
        .json()
        .get("queue_position")
    )
    if position is not None:  # the job object carries it once the API serves it
        load(browser, f"{root}#/jobs/{waiting}")
        ready(browser, "console:job")
        assert "Queue position" in css(browser, "#job-facts").text
        load(browser, f"{root}#/")
        ready(browser, "console:jobs")
    css(browser, f'tr[data-job="{job_id}"] a').click()
    wait(browser, lambda d: "running" in css(d, "#job-facts").text, "the job to run")
    shot(browser, "job-running")
    css(browser, "#cancel-job").click()
    confirm(browser)
    wait(browser, lambda d: "cancelled" in css(d, "#job-facts").text, "the cancellation")
    assert api.get_job(job_id).status == "cancelled"
    wait(browser, lambda d: all_css(d, "#delete-job"), "the delete button")
    shot(browser, "job-cancelled")


def test_a_failed_jobs_page_shows_why_it_failed(
    stack: Stack, browser: Any, root: str, api: MatchqClient, user: str, tmp_path: Path
) -> None:
    _, right = tiny_files(tmp_path)
    ragged = tmp_path / "ragged.csv"
    with ragged.open("w") as handle:  # past the first MiB, which submit checks
        handle.write("name,city\n" + "Anna Schmidt,Berlin\n" * 60_000 + "a,b,c\n")
    config = {**TINY_CONFIG, "file1": api.upload_file(ragged), "file2": api.upload_file(right)}
    job = wait_job(api, api.submit_job("ragged", config), timeout=WAIT_SECONDS)
    assert job.status == "failed"
    sign_in(browser, root, stack.token(user))
    load(browser, f"{root}#/jobs/{job.id}")
    ready(browser, "console:job")
    assert css(browser, "#job-error-message").text == job.error_message
    assert not all_css(browser, "#histogram")  # results only for completed jobs
    shot(browser, "job-failed")


# ---------------------------------------------------------------- errors, sign-out


def test_the_apis_errors_are_shown_next_to_the_fields_they_name(
    stack: Stack, browser: Any, root: str, api: MatchqClient, user: str, tmp_path: Path
) -> None:
    left, right = tiny_files(tmp_path)
    sign_in(browser, root, stack.token(user))
    load(browser, f"{root}#/new")
    ready(browser, "console:submit")
    css(browser, "#job-name").send_keys("   ")
    css(browser, "#file1-input").send_keys(str(left))
    css(browser, "#file2-input").send_keys(str(right))
    wait(browser, lambda d: all_css(d, "fieldset.mapping"), "the first mapping")
    weight = css(browser, "fieldset.mapping input[id$='-weight']")
    weight.clear()
    weight.send_keys("0")
    css(browser, "#submit-job").click()

    name_error = wait(browser, lambda d: css(d, "#job-name-error").text, "the name's error")
    assert name_error == "must not be blank"
    weight_error = css(browser, f"#{weight.get_attribute('id')}-error").text
    assert "greater than 0" in weight_error
    assert css(browser, "#job-name").get_attribute("aria-invalid") == "true"
    assert browser.switch_to.active_element.get_attribute("id") == "job-name"
    shot(browser, "submit-errors")
    assert list(api.list_jobs()) == []

    # A file the API refuses gets its reason next to the file input.
    bad = tmp_path / "notes.pdf"
    bad.write_bytes(b"%PDF-1.4")
    css(browser, "#file1-input").send_keys(str(bad))
    text = wait(browser, lambda d: css(d, "#file1-input-error").text, "the file's error")
    assert "unsupported file type" in text


def test_signing_out_forgets_the_token(stack: Stack, browser: Any, root: str, user: str) -> None:
    sign_in(browser, root, stack.token(user))
    ready(browser, "console:jobs")
    css(browser, "#sign-out").click()
    wait(browser, lambda d: all_css(d, "#sign-in"), "the sign-in form")
    assert browser.execute_script("return sessionStorage.getItem('matchq.token')") is None
    load(browser, root)
    wait(browser, lambda d: all_css(d, "#sign-in"), "the sign-in form after a reload")
    shot(browser, "signed-out")
    assert unlabelled(browser) == []

    # Signing in by pasting a token; a bad one gets the API's reason.
    css(browser, "#token-input").send_keys("not-a-jwt\n")
    reason = wait(browser, lambda d: css(d, "#token-input-error").text, "the token's error")
    assert reason == "Token is malformed"
    token_input = css(browser, "#token-input")
    token_input.clear()
    token_input.send_keys(stack.token(user) + "\n")
    wait(browser, lambda d: all_css(d, "#jobs-table"), "the jobs table")
    assert browser.execute_script("return sessionStorage.getItem('matchq.token')")
    # No token reaches the stack's log: the fragment is never sent, the header never logged.
    assert ".eyJ" not in stack.log.read_text()
