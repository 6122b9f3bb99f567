"""JSON values as table text, shared by .json and .jsonl.

A string is kept as is; a number keeps its literal text (`1.50` stays "1.50"); true and
false become "true"/"false"; arrays and objects their compact JSON text; null, NaN, an
empty string and a missing key are None. The keys of the first object are the columns;
a later object with another key is an error.
"""

from __future__ import annotations

import json
from typing import Any

from matchq.errors import InputFileError
from matchq.formats.table import Row, Table, clean_header


class Pairs(list):  # type: ignore[type-arg]
    """An object as its (key, value) pairs, so repeated keys stay visible."""


def first_object_keys(obj: Any, filename: str, where: str) -> list[str]:
    """The columns: the keys of the first object, verbatim (checked by clean_header)."""
    if not isinstance(obj, Pairs):
        raise InputFileError(f"{filename}: {where} is not a JSON object")
    return clean_header((key for key, _ in obj), filename, strip=False)


def parse_first(text: str, pos: int = 0) -> tuple[Any, int]:
    """The JSON value starting at `pos`, objects as Pairs."""
    return json.JSONDecoder(object_pairs_hook=Pairs).raw_decode(text, pos)


class _Number(str):
    """A JSON number kept as its literal text."""

    __slots__ = ()


def _plain(value: Any) -> Any:
    """A nested JSON value with numbers turned back into int/float, for re-serialising."""
    if isinstance(value, _Number):
        return json.loads(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return str(value) or None
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))


def _parse_constant(text: str) -> str | None:
    return None if text == "NaN" else _Number(text)


_DECODER = json.JSONDecoder(parse_float=_Number, parse_int=_Number, parse_constant=_parse_constant)


def loads(text: str) -> Any:
    """Parse JSON keeping numbers as their literal text (NaN as None)."""
    return _DECODER.decode(text)


def check_keys(record: Any, header_set: set[str], name: str, where: str) -> None:
    """`record` must be an object whose keys are among the columns."""
    if not isinstance(record, dict):
        raise InputFileError(f"{name}: {where} is not a JSON object")
    if not record.keys() <= header_set:
        extra = next(k for k in record if k not in header_set)
        raise InputFileError(
            f"{name}: {where} has the key '{extra}', which the first object lacks "
            "(the first object's keys are the columns)"
        )


def row_of(record: dict[str, Any], header: list[str]) -> Row:
    """A parsed object as a row of every column, values as `table_of` makes them."""
    return {col: _text(record.get(col)) for col in header}


def decode_next(text: str, pos: int) -> tuple[Any, int]:
    """The JSON value starting at `pos`, parsed as `loads` parses, and where it ends."""
    return _DECODER.raw_decode(text, pos)


def table_of(
    name: str,
    header: list[str],
    selected: list[str],
    records: list[dict[str, Any]],
    *,
    format: str,
    encoding: str,
) -> Table:
    columns: dict[str, list[str | None]] = {}
    for col in selected:
        values = [rec.get(col) for rec in records]
        # strings (most values) directly; numbers (_Number, a str subclass) and the rest
        columns[col] = [(v or None) if type(v) is str else _text(v) for v in values]
    return Table(name, header, columns, len(records), format=format, encoding=encoding)
