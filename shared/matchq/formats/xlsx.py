""".xlsx: the first sheet of a workbook, read by openpyxl in read-only mode.

One reader for the header probe and the full read (openpyxl is imported only when a
workbook is read, so the API functions do not load it at start). The first row with a
value on the first sheet (workbook order) is the header; the table spans its first to
its last non-blank cell, and a later value outside those columns is an error. Cells
become text as `cell_to_str` says. Reading a workbook needs the whole file: a prefix
raises NeedsWholeFile.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from matchq.errors import InputFileError, JobCancelled
from matchq.formats.limits import read_limits, too_many_cells
from matchq.formats.table import (
    TICK_ROWS,
    FilePreview,
    NeedsWholeFile,
    Row,
    Table,
    Tick,
    choose_columns,
    clean_header,
    no_rows,
    too_many_rows,
)


def cell_to_str(value: Any) -> str | None:
    """A spreadsheet cell value as text: integral numbers without '.0', booleans TRUE/FALSE,
    dates and times in ISO format (midnight datetimes as dates), empty text as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value or None
    isoformat = getattr(value, "isoformat", None)
    if isoformat is not None:
        if (
            hasattr(value, "hour")
            and hasattr(value, "date")
            and not (value.hour or value.minute or value.second or value.microsecond)
        ):
            return str(value.date().isoformat())
        return str(isoformat())
    return str(value)


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_SI, _T, _RPH = f"{_MAIN}si", f"{_MAIN}t", f"{_MAIN}rPh"


class _Strings:
    """An XML parser target collecting the strings of a shared string table as openpyxl
    reads them: the texts of `t` elements of each `si` (rich-text runs included, phonetic
    runs left out) joined, `x005F_` escapes removed."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._parts: list[str] = []
        self._in_text = False
        self._phonetic = 0

    def start(self, tag: str, _attrs: dict[str, str]) -> None:
        if tag == _T:
            self._in_text = not self._phonetic
        elif tag == _RPH:
            self._phonetic += 1

    def end(self, tag: str) -> None:
        if tag == _T:
            self._in_text = False
        elif tag == _RPH:
            self._phonetic -= 1
        elif tag == _SI:
            self.strings.append("".join(self._parts).replace("x005F_", ""))
            self._parts.clear()

    def data(self, text: str) -> None:
        if self._in_text:
            self._parts.append(text)

    def close(self) -> None:
        return None


class _SharedStrings:
    """The shared string table, parsed only as far as the cells read so far need: the
    header probe of a big workbook reads a few strings, not millions."""

    CHUNK = 1 << 16  # bytes of XML parsed at a time

    def __init__(self, source: IO[bytes]) -> None:
        from xml.etree.ElementTree import XMLParser

        self._source = source
        self._target = _Strings()
        # expat resolves no external entities and (>= 2.4.1) limits entity expansion
        self._parser: XMLParser | None = XMLParser(target=self._target)  # noqa: S314
        self.strings = self._target.strings

    def __getitem__(self, index: int) -> str:
        while index >= len(self.strings) and self._parser is not None:
            chunk = self._source.read(self.CHUNK)
            if chunk:
                self._parser.feed(chunk)
            else:
                self._parser.close()
                self._parser = None
        return self.strings[index]

    def close(self) -> None:
        self._source.close()


def _load_workbook(source: IO[bytes]) -> tuple[Any, _SharedStrings | None]:
    """openpyxl.load_workbook(read_only=True, data_only=True), with `_SharedStrings`."""
    from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader

    class Reader(ExcelReader):  # type: ignore[misc]
        strings: _SharedStrings | None = None

        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                self.strings = _SharedStrings(self.archive.open(part.PartName[1:]))
                self.shared_strings = self.strings

    reader = Reader(source, read_only=True, data_only=True)
    try:
        reader.read()
    except BaseException:
        if reader.strings is not None:
            reader.strings.close()
        raise
    return reader.wb, reader.strings


# Zip bombs: every part's declared size is checked before anything is inflated (zipfile
# never inflates a part past its declared size: a part that lies fails its CRC check),
# against the limits of matchq.formats.limits (a 1M-row sheet is ~100-200 MB).
RATIO_MIN_BYTES = 1 << 20  # small parts (styles, empty sheets) may compress much better


def check_archive(source: IO[bytes], name: str) -> None:
    """Refuse a workbook whose parts would inflate past the limits, from the zip's central
    directory alone; `source` is left at its start."""
    import zipfile

    try:
        with zipfile.ZipFile(source) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise InputFileError(f"{name}: not a readable .xlsx workbook") from None
    finally:
        source.seek(0)
    limits = read_limits()
    total = 0
    for part in parts:
        total += part.file_size
        if part.file_size > limits.xlsx_max_part_bytes:
            raise InputFileError(
                f"{name}: the workbook part {part.filename} would inflate to "
                f"{part.file_size:,} bytes; the limit is {limits.xlsx_max_part_bytes:,}"
                " (MATCHQ_XLSX_MAX_PART_BYTES)"
            )
        ratio = part.file_size / max(1, part.compress_size)
        if part.file_size >= RATIO_MIN_BYTES and ratio > limits.xlsx_max_ratio:
            raise InputFileError(
                f"{name}: the workbook part {part.filename} is compressed {ratio:,.0f}:1; "
                f"the limit is {limits.xlsx_max_ratio:g}:1 (MATCHQ_XLSX_MAX_RATIO; a zip bomb?)"
            )
    if total > limits.xlsx_max_total_bytes:
        raise InputFileError(
            f"{name}: the workbook would inflate to {total:,} bytes; the limit is "
            f"{limits.xlsx_max_total_bytes:,} (MATCHQ_XLSX_MAX_TOTAL_BYTES)"
        )


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


class _Sheet:
    """The non-blank rows of a workbook's first sheet, the first one read as the header."""

    def __init__(self, source: IO[bytes], name: str) -> None:
        self.name = name
        check_archive(source, name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.workbook, self.strings = _load_workbook(source)
        except Exception:  # openpyxl raises many types for a broken archive
            raise InputFileError(f"{name}: not a readable .xlsx workbook") from None
        self.first = self.last = 0

    def close(self) -> None:
        if self.strings is not None:
            self.strings.close()
        self.workbook.close()

    def rows(self) -> Iterator[tuple[int, list[str | None], list[int]]]:
        """(sheet row number, cell texts, positions of non-blank cells) per non-blank row."""
        if not self.workbook.worksheets:
            raise InputFileError(f"{self.name}: the workbook has no sheet")
        sheet = self.workbook.worksheets[0]
        sheet.reset_dimensions()  # do not trust the stored dimension record
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            max_blank = read_limits().xlsx_max_blank_rows
            blank = 0
            for excel_row, raw in enumerate(sheet.iter_rows(values_only=True), start=1):
                values = [cell_to_str(v) for v in raw]
                filled = [i for i, v in enumerate(values) if v is not None and v.strip()]
                if filled:
                    blank = 0
                    yield excel_row, values, filled
                    continue
                blank += 1
                if blank > max_blank:
                    raise InputFileError(
                        f"{self.name}: more than {max_blank:,} blank rows in a row (sheet rows"
                        f" {excel_row - blank + 1:,} to {excel_row:,}); the limit is"
                        " MATCHQ_XLSX_MAX_BLANK_ROWS"
                    )

    def header(self, rows: Iterator[tuple[int, list[str | None], list[int]]]) -> list[str]:
        """The header from the first non-blank row; sets the table's column span."""
        for _, values, filled in rows:
            self.first, self.last = filled[0], filled[-1]
            return clean_header(values[self.first : self.last + 1], self.name)
        raise InputFileError(f"{self.name}: the first sheet is empty")

    def records(
        self, rows: Iterator[tuple[int, list[str | None], list[int]]], positions: list[int]
    ) -> Iterator[tuple[str | None, ...]]:
        """The data rows after the header, the cells at `positions` of each; a value
        outside the header's columns is an error."""
        for count, (excel_row, values, filled) in enumerate(rows):
            if filled[0] < self.first or filled[-1] > self.last:
                outside = filled[0] if filled[0] < self.first else filled[-1]
                raise InputFileError(
                    f"{self.name}: data row {count} (sheet row {excel_row}) has a value in "
                    f"column {_column_letters(outside)}, outside the header's columns"
                )
            width = len(values)
            yield tuple([values[p] if p < width else None for p in positions])


def _unreadable(name: str) -> InputFileError:
    return InputFileError(f"{name}: the workbook's first sheet cannot be read")


def read_columns(data: bytes, filename: str, *, complete: bool) -> list[str]:
    """The header names; needs the whole file (`complete`)."""
    if not complete:
        raise NeedsWholeFile(f"{filename}: reading an .xlsx header needs the whole file")
    sheet = _Sheet(io.BytesIO(data), filename)
    try:
        return sheet.header(sheet.rows())
    except InputFileError:
        raise
    except Exception:
        raise _unreadable(filename) from None
    finally:
        sheet.close()


def preview(data: bytes, filename: str, *, complete: bool, max_rows: int) -> FilePreview:
    """The header and first data rows; needs the whole file (`complete`)."""
    if not complete:
        raise NeedsWholeFile(f"{filename}: reading an .xlsx file needs the whole file")
    sheet = _Sheet(io.BytesIO(data), filename)
    try:
        rows_iter = sheet.rows()
        header = sheet.header(rows_iter)
        positions = [sheet.first + i for i in range(len(header))]
        rows: list[Row] = []
        for values in sheet.records(rows_iter, positions):
            if len(rows) >= max_rows:
                break
            rows.append(dict(zip(header, values, strict=True)))
    except InputFileError:
        raise
    except Exception:
        raise _unreadable(filename) from None
    finally:
        sheet.close()
    return FilePreview(format="xlsx", encoding=None, delimiter=None, columns=header, rows=rows)


def read_table(
    path: Path, name: str, columns: list[str] | None, *, max_rows: int, tick: Tick
) -> Table:
    """Read the first sheet; `columns` as `matchq.formats.read_table` takes them."""
    with path.open("rb") as handle:  # a file object: openpyxl checks a path's extension
        sheet = _Sheet(handle, name)
        try:
            rows_iter = sheet.rows()
            header = sheet.header(rows_iter)
            selected = choose_columns(header, columns, name)
            positions = [sheet.first + header.index(col) for col in selected]
            max_cells = read_limits().max_cells
            rows: list[tuple[str | None, ...]] = []
            for values in sheet.records(rows_iter, positions):
                rows.append(values)
                if len(rows) > max_rows:
                    raise too_many_rows(name, max_rows)
                if len(rows) * len(header) > max_cells:
                    raise too_many_cells(name, len(rows), len(header), max_cells)
                if len(rows) % TICK_ROWS == 0:
                    tick(len(rows))
        except (InputFileError, JobCancelled):  # JobCancelled: from tick
            raise
        except Exception:
            raise _unreadable(name) from None
        finally:
            sheet.close()
    if not rows:
        raise no_rows(name)
    columns_out = {
        col: list(values) for col, values in zip(selected, zip(*rows, strict=True), strict=True)
    }
    return Table(name, header, columns_out, len(rows), format="xlsx")
