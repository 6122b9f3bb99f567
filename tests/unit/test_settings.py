"""Settings per process kind, from the environment the template sets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from matchq.settings import (
    ApiSettings,
    AuthorizerSettings,
    ConfigurationError,
    WorkerSettings,
    load_settings,
)
from tests.support import ROOT

SERVICE_ENV = {
    "MATCHQ_TABLE_NAME": "t",
    "MATCHQ_BUCKET_NAME": "b",
    "MATCHQ_QUEUE_URL_LOW": "http://q/low",
    "MATCHQ_QUEUE_URL_NORMAL": "http://q/normal",
    "MATCHQ_QUEUE_URL_HIGH": "http://q/high",
    "MATCHQ_QUEUE_URL_URGENT": "http://q/urgent",
    "MATCHQ_WORKER_CONCURRENCY": "2,3,5,10",
    "MATCHQ_MAX_UPLOAD_BYTES": "1000",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key, value in SERVICE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MATCHQ_WORKERS", raising=False)
    return monkeypatch


def test_api_settings_from_template_style_environment(env: pytest.MonkeyPatch) -> None:
    settings = load_settings(ApiSettings)
    assert settings.table_name == "t"
    assert settings.queue_urls == {
        1: "http://q/low",
        2: "http://q/normal",
        3: "http://q/high",
        4: "http://q/urgent",
    }
    assert settings.total_workers == 20


def test_the_local_slot_count_replaces_the_queue_caps(env: pytest.MonkeyPatch) -> None:
    env.setenv("MATCHQ_WORKERS", "1")
    assert load_settings(ApiSettings).total_workers == 1


def test_shards_are_planned_for_the_workers_of_the_jobs_queue(env: pytest.MonkeyPatch) -> None:
    env.setenv("MATCHQ_MAX_ATTEMPTS", "3")
    env.setenv("MATCHQ_MAX_RECEIVE_COUNT", "3")
    settings = load_settings(WorkerSettings)
    assert [settings.concurrency(p) for p in (1, 2, 3, 4)] == [2, 3, 5, 10]
    env.setenv("MATCHQ_WORKERS", "4")  # locally every slot takes every queue
    assert [load_settings(WorkerSettings).concurrency(p) for p in (1, 4)] == [4, 4]
    for bad in ("2,3,5", "2,0,5,10"):
        env.setenv("MATCHQ_WORKER_CONCURRENCY", bad)
        with pytest.raises(ConfigurationError, match=r"MATCHQ_WORKER_CONCURRENCY: .*four"):
            load_settings(WorkerSettings)


def test_a_missing_resource_name_is_named(env: pytest.MonkeyPatch) -> None:
    env.delenv("MATCHQ_TABLE_NAME")
    with pytest.raises(ConfigurationError, match="MATCHQ_TABLE_NAME is required"):
        load_settings(ApiSettings)


def test_a_bad_number_is_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("MATCHQ_MAX_ATTEMPTS", "many")
    env.setenv("MATCHQ_MAX_RECEIVE_COUNT", "3")
    with pytest.raises(ConfigurationError, match="MATCHQ_MAX_ATTEMPTS: "):
        load_settings(WorkerSettings)


def test_a_receive_count_that_would_run_no_job_is_refused(env: pytest.MonkeyPatch) -> None:
    # The worker fails a job on its last delivery; with one delivery no job would ever run.
    env.setenv("MATCHQ_MAX_ATTEMPTS", "3")
    env.setenv("MATCHQ_MAX_RECEIVE_COUNT", "1")
    with pytest.raises(ConfigurationError, match="MATCHQ_MAX_RECEIVE_COUNT: "):
        load_settings(WorkerSettings)
    env.setenv("MATCHQ_MAX_RECEIVE_COUNT", "2")
    assert load_settings(WorkerSettings).max_receive_count == 2


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # The template declares optional key sources as "" when not given.
    monkeypatch.setenv("MATCHQ_JWKS_URL", "")
    monkeypatch.setenv("MATCHQ_JWT_ALGORITHMS", "HS256, RS256")
    settings = load_settings(AuthorizerSettings)
    assert settings.jwks_url is None
    assert settings.jwt_algorithms == ["HS256", "RS256"]


@pytest.mark.parametrize("folder", ["get_job", "worker", "maintenance"])
def test_a_function_without_its_table_fails_at_start_naming_the_variable(folder: str) -> None:
    env = {f"{k}": v for k, v in SERVICE_ENV.items() if k != "MATCHQ_TABLE_NAME"}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
        MATCHQ_MAX_ATTEMPTS="3",
        MATCHQ_MAX_RECEIVE_COUNT="3",
        MATCHQ_RETENTION_HOURS="24",
        MATCHQ_HEARTBEAT_TIMEOUT_SECONDS="300",
        PYTHONPATH=str(ROOT / "shared"),
    )
    probe = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('app', sys.argv[1])\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(ROOT / "functions" / folder / "app.py")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr
    assert "MATCHQ_TABLE_NAME is required" in result.stderr
