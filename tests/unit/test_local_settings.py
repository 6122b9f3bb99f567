"""Settings of `matchq serve` / `matchq invoke`: defaults, values and one-line errors."""

from __future__ import annotations

import pytest

from matchq_local.settings import LocalSettings

VARIABLES = [
    "MATCHQ_PORT",
    "MATCHQ_AWS_PORT",
    "MATCHQ_WORKERS",
    "MATCHQ_HOST",
    "MATCHQ_JWT_SECRET",
    "MATCHQ_LOG_LEVEL",
    "MATCHQ_MAINTENANCE_SECONDS",
    "MATCHQ_PARAMETER_OVERRIDES",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_documented_ones() -> None:
    settings = LocalSettings.from_env()
    assert (settings.port, settings.aws_port, settings.workers) == (5000, 5001, 2)
    assert settings.host == "127.0.0.1"
    assert settings.log_level == "WARNING"
    assert settings.jwt_secret is None
    assert settings.maintenance_seconds is None
    assert settings.parameter_overrides == {}


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHQ_PORT", "8000")
    monkeypatch.setenv("MATCHQ_WORKERS", "4")
    monkeypatch.setenv("MATCHQ_HOST", "0.0.0.0")
    monkeypatch.setenv("MATCHQ_LOG_LEVEL", "info")
    monkeypatch.setenv("MATCHQ_MAINTENANCE_SECONDS", "2.5")
    monkeypatch.setenv(
        "MATCHQ_PARAMETER_OVERRIDES",
        "RetentionHours=48 ParameterKey=LogLevel,ParameterValue=DEBUG X='a b'",
    )
    settings = LocalSettings.from_env()
    assert (settings.port, settings.workers, settings.host) == (8000, 4, "0.0.0.0")
    assert settings.log_level == "INFO"
    assert settings.maintenance_seconds == 2.5
    assert settings.parameter_overrides == {
        "RetentionHours": "48",
        "LogLevel": "DEBUG",
        "X": "a b",
    }


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHQ_WORKERS", "")
    monkeypatch.setenv("MATCHQ_PORT", "")
    settings = LocalSettings.from_env()
    assert (settings.workers, settings.port) == (2, 5000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MATCHQ_WORKERS", "two"),
        ("MATCHQ_WORKERS", "0"),
        ("MATCHQ_PORT", "70000"),
        ("MATCHQ_AWS_PORT", "5001.5"),
        ("MATCHQ_LOG_LEVEL", "LOUD"),
        ("MATCHQ_MAINTENANCE_SECONDS", "-1"),
        ("MATCHQ_PARAMETER_OVERRIDES", "RetentionHours"),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as failure:
        LocalSettings.from_env()
    message = str(failure.value)
    assert message.startswith(f"{name}={value!r}: ")
    assert "\n" not in message
