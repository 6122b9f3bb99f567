"""Delimited text (.csv .tsv .txt): one reader for the header probe and the full read.

Rules (docs/matching.md, "File formats"):

- Encodings as `matchq.formats.encoding` decides: BOMs (UTF-8/16/32), strict UTF-8, a
  Windows-1252 fallback for 8-bit files, binary content refused.
- `.tsv` is tab-separated; `.csv` and `.txt` have their delimiter sniffed among
  `, ; TAB |` from the first lines. Quotes are `"`, doubled inside quoted fields.
- The first non-empty row is the header (names stripped, none blank or repeated); every
  later non-blank row must have as many fields. Values are kept as written; empty is None.

Both the API's header probe (`read_columns`, on the first MiB), its file preview
(`preview`: the header and the first data rows of that prefix) and the worker's full read
(`read_table`) find the header with `find_header` on the file's first PROBE_BYTES bytes,
so they agree by construction. The full read then parses the data rows with pandas' C
parser (`usecols`, every value a string) when the file is big enough to pay for it and a
structure check over the raw bytes proves that every record has the header's field count
and that its quotes are well placed: then the C parser and the csv module read the same
values (`matchq.formats.c_parser`). Otherwise, or when the C parser fails, the csv module
reads the rows and produces the messages that name the row, line and field counts.
Only the standard library is imported at module level (the API imports this module).
"""

from __future__ import annotations

import csv
import posixpath
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from matchq.errors import InputFileError
from matchq.formats import c_parser
from matchq.formats.encoding import (
    BOM,
    UTF8,
    UTF16,
    UTF32,
    decode_as,
    decode_prefix,
    encoding_name,
    file_encoding,
)
from matchq.formats.limits import read_limits
from matchq.formats.table import (
    TICK_ROWS,
    FilePreview,
    NeedsWholeFile,
    Row,
    Table,
    Tick,
    choose_columns,
    clean_header,
    empty_file,
    no_rows,
    too_many_rows,
)

DELIMITERS = (",", ";", "\t", "|")
SNIFF_CHARS = 64 * 1024
SNIFF_LINES = 50
PROBE_BYTES = 1 << 20  # the header is found in this prefix (the API probes the first MiB)
FAST_MIN_BYTES = 1 << 20  # smaller files are read by the csv module alone

# Lines as a file opened with newline="" yields them: ending in \r\n, \r or \n.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _row_lengths(sample: str, delimiter: str, *, drop_last: bool) -> list[int]:
    try:
        rows = [len(row) for row in csv.reader(_LINE.findall(sample), delimiter=delimiter) if row]
    except csv.Error:
        return []
    if drop_last and len(rows) > 1:
        rows.pop()
    return rows[:SNIFF_LINES]


def sniff_delimiter(sample: str, *, truncated: bool) -> str:
    """The delimiter of a text table among `, ; TAB |`, from its first lines.

    Candidates that split the header into more than one column and every sampled row into
    as many are "consistent"; the one giving the most columns wins, ties going to tab
    (commas inside tab-separated text are common), then to csv.Sniffer's choice, then
    `, ; |`. With no consistent candidate the one giving the most header columns wins;
    a single-column file gets ','.
    """
    lines = _LINE.findall(sample)[: SNIFF_LINES + 1]
    sample = "".join(lines)
    drop_last = truncated or len(lines) > SNIFF_LINES
    try:
        sniffed: str | None = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    preference = list(dict.fromkeys(["\t", *([sniffed] if sniffed in DELIMITERS else []),
                                     *DELIMITERS]))  # fmt: skip
    consistent: dict[str, int] = {}
    header_cols: dict[str, int] = {}
    for candidate in preference:
        lengths = _row_lengths(sample, candidate, drop_last=drop_last)
        header_cols[candidate] = lengths[0] if lengths else 0
        if lengths and lengths[0] > 1 and all(n == lengths[0] for n in lengths):
            consistent[candidate] = lengths[0]
    if consistent:
        return max(consistent, key=lambda d: (consistent[d], -preference.index(d)))
    best = max(preference, key=lambda d: (header_cols[d], -preference.index(d)))
    return best if header_cols[best] > 1 else ","


@dataclass(frozen=True)
class HeaderRow:
    """The header of a delimited file and where its data rows start."""

    names: list[str]
    delimiter: str
    end: int  # characters of the text up to the end of the header record
    lines: int  # physical lines up to there (blank lines before the header included)


class _Lines:
    """The lines of a text, counting how many (and how many characters) were consumed."""

    def __init__(self, text: str) -> None:
        self._lines = _LINE.finditer(text)
        self.end = 0
        self.count = 0
        self.exhausted = False  # the reader asked for a line after the last

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines, None)
        if line is None:
            self.exhausted = True
            raise StopIteration
        self.end = line.end()
        self.count += 1
        return line.group()


def find_header(text: str, filename: str, delimiter: str | None, *, complete: bool) -> HeaderRow:
    """The header of the delimited text `text` (the whole file when `complete`, else a
    prefix); `delimiter` None means sniffed. Raises NeedsWholeFile when a prefix does not
    surely hold the whole header record."""
    if not complete:
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut < 0:
            raise NeedsWholeFile(f"{filename}: the header line is longer than the bytes read")
        text = text[: cut + 1]
    if not text.strip():
        raise empty_file(filename)
    if delimiter is None:
        delimiter = sniff_delimiter(
            text[:SNIFF_CHARS], truncated=not complete or len(text) > SNIFF_CHARS
        )
    lines = _Lines(text)
    try:
        for row in csv.reader(lines, delimiter=delimiter):
            if not row:
                continue
            if not complete and (
                lines.exhausted  # the text ended inside the record (an open quote)
                or (lines.end == len(text) and text.endswith("\r"))  # \r\n, cut after \r?
            ):
                raise NeedsWholeFile(f"{filename}: the header is longer than the bytes read")
            return HeaderRow(clean_header(row, filename), delimiter, lines.end, lines.count)
    except csv.Error as exc:
        if not complete:
            raise NeedsWholeFile(
                f"{filename}: the header could not be read from the first bytes"
            ) from None
        raise InputFileError(f"{filename}: the header line cannot be parsed ({exc})") from None
    raise empty_file(filename)


def _ragged(name: str, row: int, line: int, fields: int, ncols: int) -> InputFileError:
    return InputFileError(
        f"{name}: data row {row} (line {line}) has {fields} fields but the header has {ncols}"
    )


def _unparsable(name: str, where: str, exc: csv.Error, field_limit: int) -> InputFileError:
    if "field larger than field limit" in str(exc):
        return InputFileError(
            f"{name}: {where} has a field longer than {field_limit:,} characters"
            " (the limit, MATCHQ_MAX_FIELD_CHARS)"
        )
    return InputFileError(f"{name}: cannot parse {where}: {exc}")


def sample_rows(
    text: str, name: str, header: HeaderRow, *, complete: bool, max_rows: int
) -> list[Row]:
    """The first `max_rows` data rows after `header` in `text` (the whole file when
    `complete`, else a prefix: a last record the prefix cuts is left out), read as the full
    read reads them: blank lines skipped, a row of another field count an error."""
    body = text[header.end :]
    if not complete:
        cut = max(body.rfind("\n"), body.rfind("\r"))
        body = body[: cut + 1]
    ncols = len(header.names)
    field_limit = read_limits().max_field_chars
    csv.field_size_limit(field_limit)  # as the full read sets it
    lines = _Lines(body)
    reader = csv.reader(lines, delimiter=header.delimiter)
    rows: list[Row] = []
    try:
        for raw in reader:
            if len(rows) >= max_rows or (not complete and lines.exhausted):
                break  # enough, or the prefix ends inside this record (an open quote)
            if len(raw) != ncols:
                if not raw or (len(raw) == 1 and not raw[0].strip()):
                    continue
                raise _ragged(name, len(rows), header.lines + reader.line_num, len(raw), ncols)
            rows.append({col: value or None for col, value in zip(header.names, raw, strict=True)})
    except csv.Error as exc:
        if not complete:
            raise NeedsWholeFile(
                f"{name}: the first rows could not be read from the first bytes"
            ) from None
        where = f"line {header.lines + reader.line_num} (data row {len(rows)})"
        raise _unparsable(name, where, exc, field_limit) from None
    return rows


# --- the full read ---------------------------------------------------------------------------


def _read_with_csv(
    path: Path,
    name: str,
    encoding: str,
    header: HeaderRow,
    positions: list[int],
    max_rows: int,
    tick: Tick,
) -> tuple[list[list[str | None]], int]:
    """The columns at `positions` and the row count, read by the csv module; the exact
    messages for ragged rows and unparsable lines."""
    ncols = len(header.names)
    field_limit = read_limits().max_field_chars
    csv.field_size_limit(field_limit)  # process-wide: every read of this worker alike
    rows: list[tuple[str, ...]] = []
    with path.open("r", encoding=encoding, newline="") as handle:
        handle.read(header.end)
        reader = csv.reader(handle, delimiter=header.delimiter)
        append = rows.append
        try:
            for raw in reader:
                if len(raw) != ncols:
                    if not raw or (len(raw) == 1 and not raw[0].strip()):
                        continue
                    line = header.lines + reader.line_num
                    raise _ragged(name, len(rows), line, len(raw), ncols)
                append(tuple([raw[p] for p in positions]))
                if len(rows) % TICK_ROWS == 0:
                    if len(rows) > max_rows:
                        raise too_many_rows(name, max_rows)
                    tick(len(rows))
        except csv.Error as exc:
            where = f"line {header.lines + reader.line_num} (data row {len(rows)})"
            raise _unparsable(name, where, exc, field_limit) from None
    columns = [[v or None for v in values] for values in zip(*rows, strict=True)]
    return columns or [[] for _ in positions], len(rows)


class DelimitedText:
    """One delimited-text format: `delimiter` fixed (.tsv) or None (sniffed)."""

    def __init__(self, delimiter: str | None) -> None:
        self.delimiter = delimiter

    def format_of(self, name: str) -> str:
        """The reported format: the extension of `name` ("csv", "tsv", "txt")."""
        ext = posixpath.splitext(name.strip().lower())[1].lstrip(".")
        if ext in {"csv", "tsv", "txt"}:
            return ext
        return "tsv" if self.delimiter == "\t" else "csv"

    def read_columns(self, data: bytes, filename: str, *, complete: bool) -> list[str]:
        """The header names, from the file's first bytes (`complete`: all of them)."""
        text, _ = decode_prefix(data, filename, complete=complete)
        return find_header(text, filename, self.delimiter, complete=complete).names

    def preview(self, data: bytes, filename: str, *, complete: bool, max_rows: int) -> FilePreview:
        """The header and first data rows, from the file's first bytes (`complete`: all)."""
        text, encoding = decode_prefix(data, filename, complete=complete)
        header = find_header(text, filename, self.delimiter, complete=complete)
        rows = sample_rows(text, filename, header, complete=complete, max_rows=max_rows)
        return FilePreview(
            format=self.format_of(filename),
            encoding=encoding_name(encoding, data),
            delimiter=header.delimiter,
            columns=header.names,
            rows=rows,
        )

    def _header(self, path: Path, name: str, encoding: str) -> tuple[HeaderRow, int]:
        """The header and the byte offset of the data rows, as `read_columns` finds it."""
        with path.open("rb") as handle:
            data = handle.read(PROBE_BYTES + 1)
        complete = len(data) <= PROBE_BYTES
        try:
            text = decode_as(data[:PROBE_BYTES], encoding, complete=complete)
            header = find_header(text, name, self.delimiter, complete=complete)
        except NeedsWholeFile:
            text = path.read_bytes().decode(encoding)
            header = find_header(text, name, self.delimiter, complete=True)
        if encoding == UTF8:
            bom = len(BOM) if data.startswith(BOM) else 0
            return header, bom + len(text[: header.end].encode("utf-8"))
        return header, header.end

    def read_table(
        self, path: Path, name: str, columns: list[str] | None, *, max_rows: int, tick: Tick
    ) -> Table:
        """Read the whole file; `columns` as `matchq.formats.read_table` takes them."""
        encoding = file_encoding(path, name)
        with path.open("rb") as handle:
            reported = encoding_name(encoding, handle.read(len(BOM)))
        table = self._read_text(path, name, columns, encoding, max_rows=max_rows, tick=tick)
        table.format, table.encoding = self.format_of(name), reported
        return table

    def _read_text(
        self,
        path: Path,
        name: str,
        columns: list[str] | None,
        encoding: str,
        *,
        max_rows: int,
        tick: Tick,
    ) -> Table:
        if encoding in (UTF16, UTF32):
            # read as UTF-8: the structure check and pandas' parser work on ASCII-based bytes
            with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
                utf8 = Path(tmp) / "utf8"
                with (
                    path.open("r", encoding=encoding, newline="") as src,
                    utf8.open("w", encoding="utf-8", newline="") as dst,
                ):
                    shutil.copyfileobj(src, dst, 1 << 20)
                return self._read(utf8, name, columns, UTF8, max_rows=max_rows, tick=tick)
        return self._read(path, name, columns, encoding, max_rows=max_rows, tick=tick)

    def _read(
        self,
        path: Path,
        name: str,
        columns: list[str] | None,
        encoding: str,
        *,
        max_rows: int,
        tick: Tick,
    ) -> Table:
        header, data_start = self._header(path, name, encoding)
        selected = choose_columns(header.names, columns, name)
        positions = [header.names.index(col) for col in selected]
        read = None
        if path.stat().st_size >= FAST_MIN_BYTES:
            read = c_parser.read_rows(
                path, encoding, header.delimiter, len(header.names), data_start, positions,
                max_rows, tick,
            )  # fmt: skip
        if read is None:
            read = _read_with_csv(path, name, encoding, header, positions, max_rows, tick)
        values, nrows = read
        if nrows > max_rows:
            raise too_many_rows(name, max_rows)
        if not nrows:
            raise no_rows(name)
        columns_out = dict(zip(selected, values, strict=True))
        return Table(name, header.names, columns_out, nrows, delimiter=header.delimiter)


SNIFFED = DelimitedText(None)
TAB_SEPARATED = DelimitedText("\t")
