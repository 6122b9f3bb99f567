"""Preparation: the mapped columns of both tables as codes into shared distinct values.

`prepare` runs once per job. Per mapping it finds the distinct raw values of both files
(pandas' hash-based `factorize`, in C), computes the compared string of each distinct
value once (normalisation, emptiness rule: docs/matching.md), and numbers the distinct
compared strings. Row i of file1 then holds code `codes1[i]`, -1 when its value is empty;
equal codes mean equal compared strings, in either file. Rows are also grouped by which
mappings have a value (`masks1`, `groups2`), since that decides the weights of a pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from matchq.config import MatchConfig, MatchMode, MatchType, Scorer
from matchq.formats import Table
from matchq.matching.normalize import compared_values
from matchq.matching.scorers import KERNELS, RATIO_KERNEL, Kernel, presort_safe, sort_tokens
from matchq.matching.scorers import SCALAR as SCALAR_SCORERS


@dataclass
class Plan:
    """One mapping, ready to score: values of both files as codes into shared uniques."""

    index: int
    weight: float
    exact: bool
    kernel: Kernel | None
    scalar: Callable[[str, str], float] | None
    values: np.ndarray  # kernel input per code (object array of str)
    compared: np.ndarray  # the compared string per code (scalar scorer input)
    lengths: np.ndarray  # len of each kernel input
    codes1: np.ndarray  # per file1 row: code, or -1 when the value is empty
    codes2: np.ndarray
    token_bits: np.ndarray | None = None  # per code, built on first use (count_filter)
    caches: dict[str, Any] = field(default_factory=dict)  # search indexes kept across chunks


@dataclass
class PreparedJob:
    """Everything `match_chunk` needs; built once per job by `prepare`."""

    threshold: float
    mode: MatchMode
    plans: list[Plan]
    rows1: int
    rows2: int
    masks1: np.ndarray  # per file1 row: bit i set when mapping i has a value
    groups2: list[tuple[int, np.ndarray]]  # file2 rows by mask: (mask, rows)


def object_array(items: list[str | None]) -> np.ndarray:
    """A 1-D object array of `items` (numpy would make a 2-D or unicode array of some)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def shared_codes(
    values: list[str | None], use_normalization: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per value the code of its compared string (-1 when empty), and the strings by code.

    Codes number the compared strings in order of first appearance.
    """
    raw_codes, raw_uniques = pd.factorize(object_array(values), use_na_sentinel=True)
    compared = compared_values(raw_uniques.tolist(), use_normalization)
    codes_of_uniques, uniques = pd.factorize(object_array(compared), use_na_sentinel=True)
    # raw code -1 (a missing value) indexes the appended -1
    remap = np.append(codes_of_uniques.astype(np.int64), np.int64(-1))
    return remap[raw_codes], np.asarray(uniques, dtype=object)


def _plan(index: int, config: MatchConfig, table1: Table, table2: Table) -> Plan:
    mapping = config.mappings[index]
    n1 = table1.nrows
    codes, compared = shared_codes(
        table1.columns[mapping.file1_col] + table2.columns[mapping.file2_col],
        mapping.use_normalization,
    )
    exact = mapping.match_type is MatchType.EXACT
    kernel: Kernel | None = None
    scalar = None
    kernel_values = compared
    if not exact:
        scorer = mapping.effective_scorer
        assert scorer is not None
        scalar = SCALAR_SCORERS[scorer]
        kernel = KERNELS[scorer]
        if scorer is Scorer.TOKEN_SORT_RATIO and all(map(presort_safe, compared)):
            kernel = RATIO_KERNEL
            kernel_values = object_array([sort_tokens(v) for v in compared])
    lengths = np.fromiter((len(v) for v in kernel_values), np.int64, len(kernel_values))
    return Plan(
        index=index,
        weight=float(mapping.weight),
        exact=exact,
        kernel=kernel,
        scalar=scalar,
        values=kernel_values,
        compared=compared,
        lengths=lengths,
        codes1=codes[:n1],
        codes2=codes[n1:],
    )


def prepare(config: MatchConfig, table1: Table, table2: Table) -> PreparedJob:
    """Normalise, factorise and index the mapped columns of both tables."""
    n1, n2 = table1.nrows, table2.nrows
    plans: list[Plan] = []
    masks1 = np.zeros(n1, np.int64)
    masks2 = np.zeros(n2, np.int64)
    for index in range(len(config.mappings)):
        plan = _plan(index, config, table1, table2)
        plans.append(plan)
        masks1 |= (plan.codes1 >= 0).astype(np.int64) << index
        masks2 |= (plan.codes2 >= 0).astype(np.int64) << index
    groups2 = [(int(m), np.flatnonzero(masks2 == m)) for m in np.unique(masks2)]
    return PreparedJob(float(config.threshold), config.match_mode, plans, n1, n2, masks1, groups2)
