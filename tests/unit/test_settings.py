"""Settings from the environment the template sets."""

from matchq.settings import Settings


def test_settings_from_template_style_environment() -> None:
    settings = Settings.from_env(
        {
            "MATCHQ_TABLE_NAME": "t",
            "MATCHQ_QUEUE_URL_LOW": "http://q/low",
            "MATCHQ_QUEUE_URL_URGENT": "http://q/urgent",
            "MATCHQ_WORKER_CONCURRENCY": "2,3,5,10",
            "MATCHQ_JWT_ALGORITHMS": "HS256, RS256",
            "MATCHQ_RETENTION_HOURS": "48",
            "MATCHQ_JWKS_URL": "",
        }
    )
    assert settings.table_name == "t"
    assert settings.queue_urls == {1: "http://q/low", 4: "http://q/urgent"}
    assert settings.total_workers == 20
    assert settings.jwt_algorithms == ["HS256", "RS256"]
    assert settings.retention_hours == 48
    assert settings.jwks_url is None


def test_local_worker_count_overrides_the_queue_caps() -> None:
    settings = Settings.from_env({"MATCHQ_WORKER_CONCURRENCY": "2,3,5,10", "MATCHQ_WORKERS": "1"})
    assert settings.total_workers == 1
