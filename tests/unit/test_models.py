"""Job, request and config models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from matchq.api.schemas import describe_errors
from matchq.config import DEFAULT_SCORER, MatchConfig, MatchType, Scorer
from matchq.models import Job, JobStatus, SubmitRequest, iso

F1 = "file_11111111-1111-4111-8111-111111111111"
F2 = "file_22222222-2222-4222-8222-222222222222"
T0 = datetime(2025, 1, 27, 10, 0, tzinfo=UTC)


def submit_errors(body: object) -> str:
    """What the API answers (details) for this submit body: the edge prefixes `body`."""
    try:
        SubmitRequest.model_validate(body)
    except ValidationError as exc:
        return describe_errors({**e, "loc": ("body", *e["loc"])} for e in exc.errors())
    raise AssertionError("the body is valid")


def config(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "file1": F1,
        "file2": F2,
        "mappings": [{"file1_col": "a", "file2_col": "b"}],
    }
    base.update(overrides)
    return base


def test_config_defaults() -> None:
    cfg = MatchConfig.model_validate(config())
    mapping = cfg.mappings[0]
    assert (
        mapping.match_type is MatchType.FUZZY and mapping.use_normalization and mapping.weight == 1
    )
    assert mapping.effective_scorer is DEFAULT_SCORER is Scorer.TOKEN_SORT_RATIO
    assert cfg.threshold == 80 and cfg.match_mode == "best" and cfg.generate_unmatched


def test_exact_mappings_have_no_scorer() -> None:
    cfg = MatchConfig.model_validate(
        config(mappings=[{"file1_col": "a", "file2_col": "b", "match_type": "exact"}])
    )
    assert cfg.mappings[0].effective_scorer is None


def test_columns_needed_in_first_use_order_without_repeats() -> None:
    cfg = MatchConfig.model_validate(
        config(
            mappings=[{"file1_col": "a", "file2_col": "b"}, {"file1_col": "c", "file2_col": "b"}],
            output_cols1=["c", "email"],
        )
    )
    assert cfg.columns_needed(1) == ["a", "c", "email"]
    assert cfg.columns_needed(2) == ["b"]


def test_duplicate_output_columns_are_rejected() -> None:
    details = submit_errors({"name": "n", "config": config(output_cols2=["x", "x"])})
    assert details == "config.output_cols2: column 'x' is listed twice"


def test_blank_job_names_are_rejected() -> None:
    assert submit_errors({"name": "   ", "config": config()}) == "name: must not be blank"


def test_long_job_names_are_rejected() -> None:
    assert submit_errors({"name": "x" * 201, "config": config()}).startswith("name:")


def test_too_many_mappings_are_rejected() -> None:
    many = [{"file1_col": f"a{i}", "file2_col": "b"} for i in range(21)]
    assert submit_errors({"name": "n", "config": config(mappings=many)}).startswith(
        "config.mappings:"
    )


def test_body_must_be_an_object() -> None:
    assert submit_errors(["not", "an", "object"]) == "Request body must be a JSON object"


@pytest.mark.parametrize(
    ("field", "value"),
    [("threshold", "80"), ("generate_unmatched", "yes"), ("threshold", True)],
)
def test_config_numbers_and_flags_are_strict(field: str, value: object) -> None:
    assert submit_errors({"name": "n", "config": config(**{field: value})}).startswith(
        f"config.{field}:"
    )


@pytest.mark.parametrize("priority", ["2", 2.0, True, 0, 5])
def test_priority_is_a_whole_number_from_1_to_4(priority: object) -> None:
    details = submit_errors({"name": "n", "config": config(), "priority": priority})
    assert details == "Priority must be between 1 (low) and 4 (urgent)"


def job(status: JobStatus, **kw: object) -> Job:
    return Job(id="job_x", name="n", status=status, priority=2, user_id="u", created_at=T0, **kw)


def test_duration_of_a_running_job_counts_to_now() -> None:
    running = job(JobStatus.RUNNING, started_at=T0 + timedelta(minutes=5), estimated_remaining=360)
    api = running.to_api(now=T0 + timedelta(minutes=10)).model_dump(mode="json")
    assert api["duration"] == 300 and api["estimated_remaining"] == 360
    assert api["started_at"] == "2025-01-27T10:05:00Z" and api["completed_at"] is None


def test_duration_of_a_finished_job_ends_at_completion() -> None:
    done = job(
        JobStatus.COMPLETED,
        started_at=T0 + timedelta(minutes=5),
        completed_at=T0 + timedelta(minutes=15),
        result_files=["matched_results.json"],
    )
    api = done.to_api(now=T0 + timedelta(days=3)).model_dump(mode="json")
    assert api["duration"] == 600 and api["estimated_remaining"] == 0
    assert api["result_files"] == ["/results/job_x/matched_results.json"]


def test_a_pending_job_has_no_duration_or_eta() -> None:
    api = job(JobStatus.PENDING).to_api(now=T0).model_dump(mode="json")
    assert api["duration"] is None and api["estimated_remaining"] is None


def test_timestamps_are_iso_utc_with_z() -> None:
    assert iso(datetime(2025, 1, 27, 11, 0, 0, 999, tzinfo=UTC)) == "2025-01-27T11:00:00Z"
    assert iso(None) is None


def test_finished_statuses() -> None:
    assert {s for s in JobStatus if s.finished} == {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    }
