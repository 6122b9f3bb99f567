"""The job config of `matchq submit`: a JSON file, or one built from `--map` options."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matchq_cli.errors import CliError

MATCH_TYPES = ("fuzzy", "exact")
SCORERS = (
    "ratio",
    "partial_ratio",
    "token_sort_ratio",
    "token_set_ratio",
    "WRatio",
    "jaro_winkler",
)
MATCH_MODES = ("best", "all", "one_to_one")
MAP_SYNTAX = "FILE1_COL=FILE2_COL[:fuzzy|exact[:SCORER]][@WEIGHT]"

_SCORER_BY_FOLDED = {name.lower(): name for name in SCORERS}


def _bad_map(value: str, why: str) -> CliError:
    return CliError(f"bad --map {value!r}: {why} (expected {MAP_SYNTAX})")


def parse_map(value: str) -> dict[str, Any]:
    """One `--map` value as a config mapping.

    `name=full_name` (fuzzy, the server's default scorer), `email=email_address:exact`,
    `name=full_name:fuzzy:token_set_ratio`, `zip=postcode:exact@2` (weight 2).
    """
    spec = value.strip()
    weight: float | None = None
    if "@" in spec:
        spec, _, weight_text = spec.rpartition("@")
        try:
            weight = float(weight_text)
        except ValueError:
            raise _bad_map(value, f"weight {weight_text!r} is not a number") from None
        if not 0 < weight <= 1000:
            raise _bad_map(value, "weight must be above 0 and at most 1000")
    left, sep, right = spec.partition("=")
    if not sep:
        raise _bad_map(value, "no '='")
    col2, *options = right.split(":")
    col1, col2 = left.strip(), col2.strip()
    if not col1 or not col2:
        raise _bad_map(value, "empty column name")
    if len(options) > 2:
        raise _bad_map(value, "too many ':' parts")
    match_type = options[0].strip().lower() if options else "fuzzy"
    if match_type not in MATCH_TYPES:
        raise _bad_map(value, f"match type {options[0]!r} is not fuzzy or exact")
    result: dict[str, Any] = {"file1_col": col1, "file2_col": col2, "match_type": match_type}
    if len(options) == 2:
        scorer = _SCORER_BY_FOLDED.get(options[1].strip().lower())
        if scorer is None:
            raise _bad_map(value, f"unknown scorer {options[1]!r} (one of {', '.join(SCORERS)})")
        if match_type != "fuzzy":
            raise _bad_map(value, "a scorer applies to fuzzy mappings only")
        result["scorer"] = scorer
    if weight is not None:
        result["weight"] = weight
    return result


def quick_config(maps: Sequence[str]) -> dict[str, Any]:
    """A config from `--map` values (threshold and mode are added by `apply_options`)."""
    return {"mappings": [parse_map(value) for value in maps]}


def load_config(path: Path) -> dict[str, Any]:
    """A config JSON file; every failure names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise CliError(f"config file {path} is a directory") from None
    except OSError as exc:
        raise CliError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"config file {path} is not UTF-8 text") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"config file {path} is not valid JSON: {exc.msg} (line {exc.lineno}, "
            f"column {exc.colno})"
        ) from None
    if not isinstance(config, dict):
        raise CliError(f"config file {path} must hold a JSON object, not {type(config).__name__}")
    return config


def apply_options(
    config: dict[str, Any], threshold: float | None, mode: str | None
) -> dict[str, Any]:
    """`config` with `--threshold` and `--mode` applied (they override the file's values)."""
    result = dict(config)
    if threshold is not None:
        if not 0 <= threshold <= 100:
            raise CliError(f"--threshold must be between 0 and 100, not {threshold:g}")
        result["threshold"] = int(threshold) if float(threshold).is_integer() else threshold
    if mode is not None:
        result["match_mode"] = mode
    return result
