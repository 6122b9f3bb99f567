"""Settings of `matchq serve` and `matchq invoke`: MATCHQ_* variables, read once per command.

Every setting is described in docs/local-stack.md. The Lambda handlers' own settings
(`matchq.settings`) come from the function environment in template.yaml instead.
"""

from __future__ import annotations

import re
import shlex
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from matchq_local.aws import DEFAULT_AWS_PORT, LOOPBACK
from matchq_local.template import ROOT

DEFAULT_DATA_DIR = ROOT / ".matchq" / "data"

ENV_PREFIX = "MATCHQ_"
Port = Annotated[int, Field(ge=0, le=65535)]  # 0: any free port
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def parse_overrides(text: str) -> dict[str, str]:
    """`Key=Value ParameterKey=K,ParameterValue=V`, as `sam deploy --parameter-overrides`."""
    overrides = {}
    for item in shlex.split(text):
        if full := re.fullmatch(r"ParameterKey=([^,=]+),ParameterValue=(.*)", item, re.DOTALL):
            key, value = full.groups()
        else:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"{item!r} is not Key=Value")
        overrides[key] = value
    return overrides


class LocalSettings(BaseSettings):
    """The local stack's settings; `from_env()` turns a bad value into one line naming it."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore")

    port: Port = 5000
    aws_port: Port = DEFAULT_AWS_PORT
    workers: Annotated[int, Field(ge=1)] = 2
    # Worker slots as child processes (the default: they use the cores) or as threads of
    # the stack's process (one interpreter; docs/local-stack.md, "Worker slots").
    slots: Literal["processes", "threads"] = "processes"
    host: str = LOOPBACK
    jwt_secret: str | None = None
    # Where the stack keeps its state (matchq_local.durable); ":memory:" keeps none.
    data_dir: str = str(DEFAULT_DATA_DIR)
    log_level: LogLevel = "WARNING"
    maintenance_seconds: Annotated[float, Field(gt=0)] | None = None
    parameter_overrides: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # Shards: file1 rows per shard (0: the planner's estimate) and the most per job; they
    # set the template parameters ShardRows and MaxShards.
    shard_rows: Annotated[int, Field(ge=0)] | None = None
    max_shards: Annotated[int, Field(ge=1, le=10_000)] | None = None

    def template_overrides(self) -> dict[str, str]:
        """Template parameters from MATCHQ_PARAMETER_OVERRIDES and the dedicated settings."""
        overrides = dict(self.parameter_overrides)
        if self.shard_rows is not None:
            overrides["ShardRows"] = str(self.shard_rows)
        if self.max_shards is not None:
            overrides["MaxShards"] = str(self.max_shards)
        return overrides

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("parameter_overrides", mode="before")
    @classmethod
    def _overrides(cls, value: object) -> object:
        return parse_overrides(value) if isinstance(value, str) else value

    @classmethod
    def from_env(cls) -> LocalSettings:
        """The settings from the environment; SystemExit with one line on a bad value."""
        try:
            return cls()
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                name = ENV_PREFIX + str(error["loc"][0]).upper() if error["loc"] else "MATCHQ_*"
                message = str(error["msg"]).removeprefix("Value error, ")
                problems.append(f"{name}={error['input']!r}: {message}")
            raise SystemExit("; ".join(problems)) from exc
