"""Value normalisation and the emptiness rule (docs/matching.md, "Normalisation")."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterable
from functools import cache


@cache
def _punct_to_space() -> dict[int, str]:
    """Every code point of Unicode category P* (punctuation) or S* (symbol) maps to a space."""
    return {cp: " " for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp))[0] in "PS"}


_ASCII_PUNCT = bytes(cp for cp in range(128) if unicodedata.category(chr(cp))[0] in "PS")
_ASCII_TABLE = bytes.maketrans(_ASCII_PUNCT, b" " * len(_ASCII_PUNCT))


def normalize(value: str) -> str:
    """NFKC folding, accents stripped, casefolded, punctuation/symbols to spaces, spaces collapsed.

    Steps, in order: NFKC; NFKD and drop combining marks; casefold; every character of
    category P* or S* becomes a space; runs of white space become one space; trimmed.
    """
    if value.isascii():
        return " ".join(value.lower().encode().translate(_ASCII_TABLE).decode().split())
    text = unicodedata.normalize("NFKC", value)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().translate(_punct_to_space())
    return " ".join(text.split())


def compared_value(value: str | None, use_normalization: bool) -> str | None:
    """The string a mapping compares, or None when the value counts as EMPTY."""
    if value is None:
        return None
    if use_normalization:
        text = normalize(value)
        return text or None
    return value if value.strip() else None


def compared_values(values: Iterable[str | None], use_normalization: bool) -> list[str | None]:
    """`compared_value` over many values, computing each distinct value once."""
    cache: dict[str, str | None] = {}
    out: list[str | None] = []
    append = out.append
    for value in values:
        if value is None:
            append(None)
            continue
        hit = cache.get(value, cache)
        if hit is cache:
            hit = compared_value(value, use_normalization)
            cache[value] = hit
        append(hit)  # type: ignore[arg-type]
    return out
