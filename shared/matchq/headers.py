"""Header column names of an uploaded file, from its first bytes. Standard library only.

The API calls `read_columns` on (at most) the first MiB of a file to validate a job's
config; the worker's readers (`matchq.matching.readers`) use the same helpers here, so
both see the same columns.

Policies shared with the worker:

- Text files (.csv .tsv .txt) are UTF-8 (a BOM is dropped); if they are not valid UTF-8
  they are read as Latin-1. `.tsv` is tab-separated; `.csv` and `.txt` have their
  delimiter sniffed among `, ; TAB |`.
- Header cells of text and .xlsx files are stripped of surrounding white space. JSON keys
  are taken verbatim. A blank or repeated name is an error.
- .json is an array of objects; .jsonl one object per line; the keys of the first object
  are the columns. Both must be UTF-8.
- .xlsx: the first row with a value on the first sheet (workbook order) is the header;
  the table spans its first to its last non-blank cell.
  Reading it needs the complete file: with `complete=False` `read_columns` raises
  `NeedsWholeFile` (a subclass of `InputFileError`, so it is never a raw server error):
  catch it and call again with the whole file. The same exception is raised when a text
  or JSON prefix is too short to hold the header.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import posixpath
import re
import zipfile
from collections.abc import Iterable
from typing import Any
from xml.etree import ElementTree

from matchq.errors import InputFileError

SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".txt", ".xlsx", ".json", ".jsonl")
TEXT_EXTENSIONS = (".csv", ".tsv", ".txt")
DELIMITERS = (",", ";", "\t", "|")
SNIFF_CHARS = 64 * 1024
SNIFF_LINES = 50


class NeedsWholeFile(InputFileError):
    """The bytes given are not enough to read the header: fetch the whole file and retry."""


def extension_of(filename: str) -> str:
    """The lower-case extension of `filename` ('.csv'), or raise InputFileError."""
    ext = posixpath.splitext(filename.strip().lower())[1]
    if ext not in SUPPORTED_EXTENSIONS:
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        raise InputFileError(
            f"{filename}: unsupported file type '{ext or '(none)'}'; use one of {supported}"
        )
    return ext


def decode_text(data: bytes, *, complete: bool) -> str:
    """UTF-8 (BOM dropped), else Latin-1. A prefix may end inside a UTF-8 sequence."""
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=complete)
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_json_text(data: bytes, filename: str, *, complete: bool) -> str:
    """UTF-8 (BOM dropped) or InputFileError naming the byte offset."""
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=complete)
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{filename}: not valid UTF-8 (byte offset {exc.start}); JSON files must be UTF-8"
        ) from None


def clean_header(names: Iterable[Any], filename: str, *, strip: bool = True) -> list[str]:
    """Header names as strings, checked: none blank, none repeated."""
    out: list[str] = []
    seen: set[str] = set()
    for position, raw in enumerate(names):
        name = "" if raw is None else str(raw)
        if strip:
            name = name.strip()
        if not name.strip():
            raise InputFileError(
                f"{filename}: column {position + 1} of the header has a blank name"
            )
        if name in seen:
            raise InputFileError(f"{filename}: column name '{name}' appears twice in the header")
        seen.add(name)
        out.append(name)
    if not out:
        raise InputFileError(f"{filename}: the header row is empty")
    return out


def _row_lengths(sample: str, delimiter: str, *, drop_last: bool) -> list[int]:
    try:
        rows = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
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
    lines = sample.splitlines(keepends=True)[: SNIFF_LINES + 1]
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


def text_delimiter(ext: str, sample: str, *, truncated: bool) -> str:
    """Tab for .tsv, else sniffed."""
    if ext == ".tsv":
        return "\t"
    return sniff_delimiter(sample, truncated=truncated)


def _text_columns(data: bytes, filename: str, ext: str, complete: bool) -> list[str]:
    text = decode_text(data, complete=complete)
    if not complete:
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut < 0:
            raise NeedsWholeFile(f"{filename}: the header line is longer than the bytes read")
        text = text[: cut + 1]
    if not text.strip():
        raise InputFileError(f"{filename}: the file is empty")
    delimiter = text_delimiter(ext, text[:SNIFF_CHARS], truncated=not complete)
    try:
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            if row:
                return clean_header(row, filename)
    except csv.Error as exc:
        if not complete:
            raise NeedsWholeFile(
                f"{filename}: the header could not be read from the first bytes"
            ) from None
        raise InputFileError(f"{filename}: the header line cannot be parsed ({exc})") from None
    raise InputFileError(f"{filename}: the file is empty")


def _first_object_keys(obj: Any, filename: str, where: str) -> list[str]:
    if not isinstance(obj, _Pairs):
        raise InputFileError(f"{filename}: {where} is not a JSON object")
    return clean_header((key for key, _ in obj), filename, strip=False)


class _Pairs(list):  # type: ignore[type-arg]
    """An object as its (key, value) pairs, so repeated keys stay visible."""


def _json_columns(data: bytes, filename: str, complete: bool) -> list[str]:
    text = decode_json_text(data, filename, complete=complete)
    pos = len(text) - len(text.lstrip())
    if pos == len(text):
        if complete:
            raise InputFileError(f"{filename}: the file is empty")
        raise NeedsWholeFile(f"{filename}: no JSON content in the bytes read")
    if text[pos] != "[":
        raise InputFileError(f"{filename}: a .json file must hold an array of objects")
    pos += 1
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos < len(text) and text[pos] == "]":
        raise InputFileError(f"{filename}: the array holds no rows")
    decoder = json.JSONDecoder(object_pairs_hook=_Pairs)
    try:
        first, _ = decoder.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        if not complete:
            raise NeedsWholeFile(
                f"{filename}: the first object is longer than the bytes read"
            ) from None
        raise InputFileError(
            f"{filename}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return _first_object_keys(first, filename, "row 0")


def _jsonl_columns(data: bytes, filename: str, complete: bool) -> list[str]:
    text = decode_json_text(data, filename, complete=complete)
    lines = text.splitlines()
    if not complete and not (text.endswith("\n") or text.endswith("\r")) and lines:
        last_partial = lines.pop()
    else:
        last_partial = None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                obj = json.loads(line, object_pairs_hook=_Pairs)
            except json.JSONDecodeError as exc:
                raise InputFileError(
                    f"{filename}: line {number} is not valid JSON ({exc.msg})"
                ) from None
            return _first_object_keys(obj, filename, f"line {number}")
    if last_partial is not None and last_partial.strip():
        raise NeedsWholeFile(f"{filename}: the first line is longer than the bytes read")
    if not complete:
        raise NeedsWholeFile(f"{filename}: no JSON line in the bytes read")
    raise InputFileError(f"{filename}: the file is empty")


# --- .xlsx -----------------------------------------------------------------------------

_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
# ElementTree resolves no external entities and the bundled expat (>= 2.4.1) limits entity
# expansion ("billion laughs"), so parsing untrusted workbook XML is safe here.
_CELL_REF = re.compile(r"([A-Za-z]+)(\d*)")


def column_index(letters: str) -> int:
    """0-based index of a column given by letters ('A' -> 0, 'AA' -> 26)."""
    index = 0
    for ch in letters.upper():
        index = index * 26 + (ord(ch) - 64)
    return index - 1


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text_of(element: ElementTree.Element) -> str:
    """Concatenated <t> texts of a shared or inline string, phonetic runs left out."""
    parts: list[str] = []
    for child in element:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return "".join(parts)


def _first_sheet_path(archive: zipfile.ZipFile) -> str:
    names = set(archive.namelist())
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))  # noqa: S314
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))  # noqa: S314
        sheet = workbook.find(f"{{{_NS_MAIN}}}sheets/{{{_NS_MAIN}}}sheet")
        if sheet is not None:
            rel_id = sheet.get(f"{{{_NS_REL}}}id")
            for rel in rels.iter(f"{{{_NS_PKG_REL}}}Relationship"):
                if rel.get("Id") == rel_id:
                    target = rel.get("Target", "")
                    path = (
                        target.lstrip("/")
                        if target.startswith("/")
                        else posixpath.normpath(posixpath.join("xl", target))
                    )
                    if path in names:
                        return path
    except (KeyError, ElementTree.ParseError):
        pass
    if "xl/worksheets/sheet1.xml" in names:
        return "xl/worksheets/sheet1.xml"
    raise KeyError("no worksheet")


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    try:
        raw = archive.read("xl/sharedStrings.xml")
    except KeyError:
        return []
    root = ElementTree.fromstring(raw)  # noqa: S314
    return [_text_of(si) for si in root if _local(si.tag) == "si"]


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


def _cell_text(cell: ElementTree.Element, shared: list[str]) -> str | None:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = cell.find(f"{{{_NS_MAIN}}}is")
        return None if inline is None else _text_of(inline)
    value = cell.find(f"{{{_NS_MAIN}}}v")
    if value is None or value.text is None:
        return None
    if kind == "s":
        return shared[int(value.text)]
    if kind == "b":
        return "TRUE" if value.text.strip() == "1" else "FALSE"
    if kind == "n":
        number = value.text.strip()
        try:
            parsed: int | float = (
                float(number) if any(ch in number for ch in ".Ee") else int(number)
            )
        except ValueError:
            return number
        return cell_to_str(parsed)
    return value.text


def _xlsx_columns(data: bytes, filename: str, complete: bool) -> list[str]:
    if not complete:
        raise NeedsWholeFile(f"{filename}: reading an .xlsx header needs the whole file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            shared = _shared_strings(archive)
            with archive.open(_first_sheet_path(archive)) as sheet:
                for _, element in ElementTree.iterparse(sheet, events=("end",)):  # noqa: S314
                    if _local(element.tag) != "row":
                        continue
                    cells: dict[int, str | None] = {}
                    for position, cell in enumerate(c for c in element if _local(c.tag) == "c"):
                        ref = _CELL_REF.match(cell.get("r", ""))
                        col = column_index(ref.group(1)) if ref and ref.group(1) else position
                        text = _cell_text(cell, shared)
                        cells[col] = text if text is None or text.strip() else None
                    element.clear()
                    filled = [c for c, v in cells.items() if v is not None]
                    if filled:
                        span = range(min(filled), max(filled) + 1)
                        return clean_header((cells.get(c) for c in span), filename)
    except (
        zipfile.BadZipFile,
        KeyError,
        ElementTree.ParseError,
        ValueError,
        IndexError,
        EOFError,
        OSError,
        RuntimeError,
    ):
        raise InputFileError(f"{filename}: not a readable .xlsx workbook") from None
    raise InputFileError(f"{filename}: the first sheet is empty")


def read_columns(data: bytes, filename: str, *, complete: bool) -> list[str]:
    """The header column names of the file `filename` whose first bytes are `data`.

    `complete` tells whether `data` is the whole file. Raises `InputFileError` naming the
    file for an unsupported extension, an empty file, blank or repeated names or content
    that does not parse; `NeedsWholeFile` when `data` is a prefix that does not suffice
    (always for .xlsx).
    """
    ext = extension_of(filename)
    if complete and not data.strip():
        raise InputFileError(f"{filename}: the file is empty")
    if ext in TEXT_EXTENSIONS:
        return _text_columns(data, filename, ext, complete)
    if ext == ".json":
        return _json_columns(data, filename, complete)
    if ext == ".jsonl":
        return _jsonl_columns(data, filename, complete)
    return _xlsx_columns(data, filename, complete)
