"""The matching configuration of a job: what to compare, how, and what to output.

This module is shared by the API (validation at submit time) and the worker's engine,
so it imports nothing heavy.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

MAX_MAPPINGS = 20
MAX_COLUMN_NAME = 256
MAX_OUTPUT_COLUMNS = 500
FILE_ID_PATTERN = r"^file_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
FILE_ID_RE = re.compile(FILE_ID_PATTERN)

ColumnName = Annotated[str, Field(min_length=1, max_length=MAX_COLUMN_NAME)]
FileId = Annotated[str, Field(pattern=FILE_ID_PATTERN)]
# JSON numbers and booleans are taken as they are: "80" is not a threshold (docs/api.md).
Number = Annotated[float, Strict()]
Flag = Annotated[bool, Strict()]


class MatchType(StrEnum):
    """How one mapping compares its two values."""

    EXACT = "exact"  # equal strings score 100, anything else 0
    FUZZY = "fuzzy"  # a similarity scorer, 0-100


class Scorer(StrEnum):
    """Fuzzy scorers; all return 0-100."""

    RATIO = "ratio"  # normalised Indel similarity of the whole strings
    PARTIAL_RATIO = "partial_ratio"  # best ratio of the shorter string against any window
    TOKEN_SORT_RATIO = "token_sort_ratio"  # ratio after sorting the words (order-insensitive)
    TOKEN_SET_RATIO = "token_set_ratio"  # ratio on the intersection / differences of word sets
    WRATIO = "WRatio"  # rapidfuzz's weighted blend of the above
    JARO_WINKLER = "jaro_winkler"  # Jaro-Winkler similarity x 100


DEFAULT_SCORER = Scorer.TOKEN_SORT_RATIO


class MatchMode(StrEnum):
    """Which pairs at or above the threshold are reported."""

    BEST = "best"  # per file1 row its best file2 row; ties go to the lowest file2 row
    ALL = "all"  # every pair at or above the threshold
    ONE_TO_ONE = "one_to_one"  # each row of either file in at most one pair, best scores first


class OutputFormat(StrEnum):
    """The format of the result files (docs/matching.md, "Result files")."""

    JSON = "json"  # JSON arrays of records
    CSV = "csv"  # UTF-8 (with a BOM, for spreadsheets) comma-separated, one header row
    XLSX = "xlsx"  # one Excel sheet per file


class Mapping(BaseModel):
    """One column of file1 compared with one column of file2."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file1_col: ColumnName
    file2_col: ColumnName
    match_type: MatchType = MatchType.FUZZY
    scorer: Scorer | None = None
    use_normalization: Flag = True
    weight: Number = Field(default=1.0, gt=0, le=1000)

    @model_validator(mode="after")
    def _scorer_only_for_fuzzy(self) -> Mapping:
        if self.match_type is MatchType.EXACT and self.scorer is not None:
            raise ValueError("scorer applies to fuzzy mappings only")
        return self

    @property
    def effective_scorer(self) -> Scorer | None:
        """The scorer this mapping uses: None for exact, the default when not given."""
        if self.match_type is MatchType.EXACT:
            return None
        return self.scorer or DEFAULT_SCORER


class MatchConfig(BaseModel):
    """The `config` object of a job (docs/matching.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file1: FileId
    file2: FileId
    mappings: list[Mapping] = Field(min_length=1, max_length=MAX_MAPPINGS)
    output_cols1: list[ColumnName] | None = Field(default=None, max_length=MAX_OUTPUT_COLUMNS)
    output_cols2: list[ColumnName] | None = Field(default=None, max_length=MAX_OUTPUT_COLUMNS)
    threshold: Number = Field(default=80.0, ge=0, le=100)
    match_mode: MatchMode = MatchMode.BEST
    generate_unmatched: Flag = True
    output_format: OutputFormat = OutputFormat.JSON

    @field_validator("output_cols1", "output_cols2")
    @classmethod
    def _no_duplicate_output_columns(cls, cols: list[str] | None) -> list[str] | None:
        if cols is not None:
            seen: set[str] = set()
            for col in cols:
                if col in seen:
                    raise ValueError(f"column '{col}' is listed twice")
                seen.add(col)
        return cols

    def columns_needed(self, side: int) -> list[str]:
        """Columns of file `side` (1 or 2) the job reads, in first-use order, without repeats.

        `None` output columns mean "all columns"; callers expand that with the header.
        """
        names: list[str] = []
        outputs = self.output_cols1 if side == 1 else self.output_cols2
        for mapping in self.mappings:
            names.append(mapping.file1_col if side == 1 else mapping.file2_col)
        names.extend(outputs or [])
        return list(dict.fromkeys(names))
