"""Delimited text: pandas' C parser and the csv module read the same table, or pandas
declines and the csv module decides (its messages name the row and line)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matchq.errors import InputFileError
from matchq.formats import NeedsWholeFile, Table, c_parser, delimited, read_table

PLAIN = st.text(alphabet="ab é,;|\t\x0b\xa0", max_size=4)
QUOTED = st.text(alphabet='ab,;\t\r\n"é ', max_size=5).map(
    lambda t: '"' + t.replace('"', '""') + '"'
)
BROKEN = st.sampled_from(['"ab"c', 'a"b', '"open', ' "x"', '""', '"a""b"', "\x00"])
FIELD = st.one_of(PLAIN, QUOTED, BROKEN)
LINE_END = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def delimited_files(draw: st.DrawFn) -> tuple[bytes, str]:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    ncols = draw(st.integers(1, 4))
    end = draw(LINE_END)
    clean = draw(st.booleans())  # well-formed rows only: what pandas should read
    field = st.one_of(PLAIN, QUOTED) if clean else FIELD
    lines = [delimiter.join(f"h{k}" for k in range(ncols)) + end]
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["row"] if clean else ["row", "row", "ragged", "blank"]))
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", " ", "\t", "  \t"])) + draw(LINE_END))
            continue
        width = ncols if kind == "row" else draw(st.integers(1, ncols + 2))
        fields = [draw(field) for _ in range(width)]
        lines.append(delimiter.join(fields) + (draw(LINE_END) if draw(st.booleans()) else end))
    if draw(st.booleans()):  # the last line without its line end
        lines[-1] = lines[-1].rstrip("\r\n")
    text = "".join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
    name = draw(st.sampled_from(["x.csv", "x.txt", "x.tsv"]))
    return text.encode(encoding), name


def read(path: Path, name: str, fast: bool) -> Table | str:
    with mock.patch.object(delimited, "FAST_MIN_BYTES", 0 if fast else 10**18):
        try:
            return read_table(path, name)
        except InputFileError as exc:
            return exc.details


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=delimited_files())
def test_pandas_path_equals_the_csv_module(tmp_path: Path, data: tuple[bytes, str]) -> None:
    raw, name = data
    path = tmp_path / "upload"
    path.write_bytes(raw)
    assert read(path, name, fast=True) == read(path, name, fast=False)


def test_well_formed_files_are_read_by_pandas(tmp_path: Path) -> None:
    rows = ['1,"Smith, John",x', '2,"say ""hi""",', '3,"two\nlines",z', "4,,"]
    path = tmp_path / "upload"
    path.write_bytes(("\ufeffid,name,note\r\n" + "\r\n".join(rows * 50) + "\r\n").encode())
    with (
        mock.patch.object(delimited, "FAST_MIN_BYTES", 0),
        mock.patch.object(delimited, "_read_with_csv", side_effect=AssertionError),
    ):
        table = read_table(path, "people.csv", ["name", "note"])
    assert table.nrows == 200
    assert table.columns["name"][:3] == ["Smith, John", 'say "hi"', "two\nlines"]
    assert table.columns["note"][:4] == ["x", None, "z", None]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("a,b\n1,2\n3,4,5\n", "a long row"),
        ("a,b\n1,2\n3\n", "a short row"),
        ('a,b\nx"y,2\n', "a quote inside an unquoted field"),
        ('a,b\n"x"y,2\n', "text after a closing quote"),
        ('a,b\n"open,2\n', "an open quote at the end"),
        ("a\n1\n  \n2\n", "a line of spaces (a value of the only column)"),
        ("a,b\n1,\x002\n", "a NUL byte"),
        ("a,b\n1," + "x" * 140_000 + "\n", "a field longer than the csv module's limit"),
    ],
)
def test_pandas_declines_what_it_would_read_otherwise(tmp_path: Path, body: str, why: str) -> None:
    path = tmp_path / "upload"
    path.write_text(body, encoding="utf-8")
    header, start = delimited.SNIFFED._header(path, "x.csv", "utf-8-sig")
    records = c_parser.record_count(path, start, header.delimiter, len(header.names),
                                    mock.Mock(is_set=lambda: False))  # fmt: skip
    if records is not None:  # the structure holds: the row counts must then differ
        assert why == "a line of spaces (a value of the only column)"
        assert records == 3
    assert read(path, "x.csv", fast=True) == read(path, "x.csv", fast=False), why


@pytest.mark.parametrize("fast", [False, True])
def test_a_header_beyond_the_probe_is_read_from_the_whole_file(tmp_path: Path, fast: bool) -> None:
    names = [f"column_{k}" for k in range(40)]
    path = tmp_path / "upload"
    path.write_text(",".join(names) + "\n" + ",".join("x" * 40) + "\n", encoding="utf-8")
    with mock.patch.object(delimited, "PROBE_BYTES", 64):
        table = read(path, "wide.csv", fast)
    assert isinstance(table, Table)
    assert table.header == names and table.nrows == 1


def test_a_quoted_header_cut_by_the_probe_is_not_taken_from_the_prefix(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_text('"first\nname",city\nAnn,Bonn\n', encoding="utf-8")
    prefix = path.read_bytes()[:8]  # '"first\nn': the quoted name goes on
    with pytest.raises(NeedsWholeFile):
        delimited.SNIFFED.read_columns(prefix, "a.csv", complete=False)
    with mock.patch.object(delimited, "PROBE_BYTES", 8):
        assert read_table(path, "a.csv").header == ["first\nname", "city"]


def test_line_numbers_count_the_lines_of_a_multiline_header(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_text('\n"a\nb",c\n1,2\n3\n', encoding="utf-8")
    message = read(path, "x.csv", fast=True)
    assert message == "x.csv: data row 1 (line 5) has 1 fields but the header has 2"
