"""pandas' C parser for delimited text, and the check that makes it exact.

The C parser (`pandas.read_csv(engine="c")`) is several times faster than the csv module
and reads only the columns asked for, but it pads short rows, ignores surplus fields when
given `usecols`, skips lines of spaces and tabs, and treats stray quotes its own way. So
`read_rows` runs it only alongside `record_count`, a scan of the raw bytes proving that
every record has the header's field count and every quote opens or closes a field; under
those conditions both parsers split records and fields alike (the property test in
tests/unit/formats/test_delimited.py checks it), and equal row counts rule out skipped
lines. Anything else returns None and the csv module reads the file.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from matchq.formats.encoding import UTF8
from matchq.formats.limits import read_limits
from matchq.formats.table import Tick

CHUNK_ROWS = 100_000  # rows per pandas chunk (one tick each)
CHECK_BLOCK = 1 << 22  # bytes per block of the structure check


def record_count(
    path: Path, offset: int, delimiter: str, ncols: int, stop: threading.Event
) -> int | None:
    """The number of non-empty records from byte `offset` on, when the csv module and
    pandas' C parser surely split them alike: every record has `ncols` fields, no record
    is longer than the field limit (MATCHQ_MAX_FIELD_CHARS, which the csv module applies)
    in bytes, no NUL byte, and every quote opens a field (after a
    delimiter, a line end or a closing quote) or closes one (before a quote, a delimiter,
    a line end or the end). None otherwise, or when `stop` is set.

    Quotes are tracked by parity: a byte is inside a quoted field when an odd number of
    quotes precede it (a doubled quote flips twice). Works on bytes: delimiters, quotes
    and line ends are ASCII, and no byte of a multi-byte UTF-8 character is.
    """
    import numpy as np

    field_limit = read_limits().max_field_chars
    quote, lf, cr, sep = ord('"'), ord("\n"), ord("\r"), ord(delimiter)
    inside = False  # within a quoted field at the block start
    prev_closing = False  # the previous byte closed a quoted field
    prev_boundary = True  # the previous byte was a delimiter or line end (or the start)
    open_delims = 0  # delimiters of the record still open at the block end
    last_end = -1  # position of the last line end outside quotes
    records = 0
    base = 0
    with path.open("rb") as handle:
        handle.seek(offset)
        while block := handle.read(CHECK_BLOCK):
            if stop.is_set() or b"\0" in block:
                return None
            b = np.frombuffer(block, np.uint8)
            if inside or b'"' in block:
                is_quote = b == quote
                after = np.bitwise_xor.accumulate(is_quote)
                if inside:
                    np.logical_not(after, out=after)
                before = np.empty_like(after)
                before[0] = inside
                before[1:] = after[:-1]
                line_end = (b == lf) | (b == cr)
                is_sep = b == sep
                boundary = (line_end | is_sep) & ~before
                closing = is_quote & before
                may_open = np.empty_like(is_quote)
                may_open[0] = prev_boundary or prev_closing
                may_open[1:] = boundary[:-1] | closing[:-1]
                if (is_quote & ~before & ~may_open).any():
                    return None
                after_closing = np.empty_like(is_quote)
                after_closing[0] = prev_closing
                after_closing[1:] = closing[:-1]
                if (after_closing & ~(is_quote | line_end | is_sep)).any():
                    return None
                seps = np.flatnonzero(boundary)
                inside, prev_closing = bool(after[-1]), bool(closing[-1])
                prev_boundary = bool(boundary[-1])
            else:
                seps = np.flatnonzero((b == sep) | (b == lf) | (b == cr))
                prev_closing = False
                prev_boundary = bool(len(seps)) and int(seps[-1]) == len(b) - 1
            ends = np.flatnonzero(b[seps] != sep)  # line ends among the separators
            if len(ends):
                end_at = seps[ends] + base
                delims = np.diff(ends, prepend=-1) - 1  # delimiters of each ended record
                delims[0] += open_delims
                length = np.diff(end_at, prepend=last_end) - 1
                filled = length > 0  # an empty record is a blank line (or the \n of \r\n)
                if (delims[filled] != ncols - 1).any() or (length > field_limit).any():
                    return None
                records += int(np.count_nonzero(filled))
                open_delims = len(seps) - 1 - int(ends[-1])
                last_end = int(end_at[-1])
            else:
                open_delims += len(seps)
            base += len(b)
    if inside:
        return None
    if base - 1 > last_end:  # a last record without a line end
        if open_delims != ncols - 1 or base - 1 - last_end > field_limit:
            return None
        records += 1
    return records


def read_rows(
    path: Path,
    encoding: str,
    delimiter: str,
    ncols: int,
    data_start: int,
    positions: list[int],
    max_rows: int,
    tick: Tick,
) -> tuple[list[list[str | None]], int] | None:
    """The columns at `positions` (empty values None) and the row count of the data rows
    from byte `data_start` on, read by pandas' C parser while a thread runs the structure
    check; None when the check fails or the parser does (then the csv module decides)."""
    import pandas as pd

    usecols = sorted(positions) or [0]
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        check = pool.submit(record_count, path, data_start, delimiter, ncols, stop)
        try:
            parts: dict[int, list[Any]] = {p: [] for p in usecols}
            rows = 0
            with path.open("rb") as handle:
                handle.seek(data_start)
                chunks = pd.read_csv(
                    handle,
                    sep=delimiter,
                    header=None,
                    usecols=usecols,
                    dtype=object,
                    keep_default_na=False,
                    na_filter=False,
                    skip_blank_lines=True,
                    quotechar='"',
                    doublequote=True,
                    escapechar=None,
                    engine="c",
                    encoding="utf-8" if encoding == UTF8 else encoding,
                    chunksize=CHUNK_ROWS,
                    nrows=max_rows + 1,
                )
                with chunks:
                    for chunk in chunks:
                        for p in usecols:
                            parts[p].extend([v or None for v in chunk[p].tolist()])
                        rows += len(chunk)
                        if check.done() and check.result() is None:
                            return None
                        tick(rows)
        except ValueError:  # ParserError, EmptyDataError: the csv module will tell
            stop.set()
            return None
        except BaseException:
            stop.set()
            raise
        records = check.result()
    if records is None or min(records, max_rows + 1) != rows:
        return None
    return [parts[p] for p in positions], rows
