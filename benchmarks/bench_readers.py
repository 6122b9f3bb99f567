"""Benchmark of the file readers (matchq.formats.read_table) on large generated files.

Usage: .venv/bin/python benchmarks/bench_readers.py [--rows 1000000] [--repeats 3]
           [--formats csv,json,jsonl,xlsx] [--baseline GIT_REV]

Writes one table of --rows synthetic person records (7 text columns) per format into a
temporary directory, then reads each file in a fresh subprocess per run (pandas, numpy
openpyxl and the engine imported before the clock starts, as in the worker) and prints the median
seconds of `read_table` and the peak RSS. Cases:

- new: `read_table` of this checkout (for csv also "new, csv module": the same reader
  with pandas' C parser switched off, as for small or malformed files);
- old: `read_table` of the git revision --baseline (e.g. the commit before a change),
  extracted with `git archive`; skipped without --baseline;
- pandas.read_excel: for xlsx only, `pandas.read_excel(dtype=object)` of the same file,
  the alternative to openpyxl's read-only reader (no header or value rules applied).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

COLUMNS_2 = ["name", "city"]


def write_files(folder: Path, rows: int, formats: list[str]) -> dict[str, Path]:
    from synth import make_tables

    table, _ = make_tables(rows, 1, seed=rows)
    header, body = table[0], table[1:]
    paths: dict[str, Path] = {}
    if "csv" in formats:
        paths["csv"] = folder / "table.csv"
        with paths["csv"].open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(table)
    if "json" in formats:
        paths["json"] = folder / "table.json"
        with paths["json"].open("w", encoding="utf-8") as handle:
            handle.write("[\n")
            handle.write(",\n".join(json.dumps(dict(zip(header, r, strict=True))) for r in body))
            handle.write("\n]\n")
    if "jsonl" in formats:
        paths["jsonl"] = folder / "table.jsonl"
        with paths["jsonl"].open("w", encoding="utf-8") as handle:
            for r in body:
                handle.write(json.dumps(dict(zip(header, r, strict=True))) + "\n")
    if "xlsx" in formats:
        paths["xlsx"] = folder / "table.xlsx"
        write_xlsx(paths["xlsx"], table)
    return paths


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_ML = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def write_xlsx(path: Path, table: list[list[str]]) -> None:
    """A one-sheet workbook with a shared string table, as spreadsheet programs write them
    (openpyxl's write-only mode writes inline strings, which read several times slower)."""
    from xml.sax.saxutils import escape

    strings: dict[str, int] = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            span = f"A1:{chr(64 + len(table[0]))}{len(table)}"
            sheet.write(f'<worksheet xmlns="{_MAIN}"><dimension ref="{span}"/><sheetData>'.encode())
            for number, row in enumerate(table, start=1):
                cells = "".join(
                    f'<c r="{chr(65 + k)}{number}" t="s"><v>{strings.setdefault(v, len(strings))}'
                    "</v></c>"
                    for k, v in enumerate(row)
                )
                sheet.write(f'<row r="{number}">{cells}</row>'.encode())
            sheet.write(b"</sheetData></worksheet>")
        shared = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
        archive.writestr(
            "xl/sharedStrings.xml",
            f'<sst xmlns="{_MAIN}" uniqueCount="{len(strings)}">{shared}</sst>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_PKG}">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_ML}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_ML}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_ML}.sharedStrings+xml"/>'
            "</Types>",
        )


# --- child ------------------------------------------------------------------------------------


def child(method: str, shared: str, path: str, name: str, columns: str) -> dict[str, Any]:
    sys.path.insert(0, shared)
    import numpy  # noqa: F401  (the worker has these loaded before it reads)
    import openpyxl  # noqa: F401
    import pandas as pd

    wanted = columns.split(",") if columns else None
    if method == "pandas.read_excel":
        start = time.perf_counter()
        frame = pd.read_excel(path, dtype=object, engine="openpyxl")
        return {"seconds": time.perf_counter() - start, "rows": len(frame)}
    # (not try/except ImportError: the editable install would find this checkout's package)
    import matchq.matching  # noqa: F401  (the engine too, as in the worker)

    if (Path(shared) / "matchq" / "formats").is_dir():
        from matchq.formats import read_table
    else:  # a baseline from before matchq.formats
        from matchq.matching.readers import read_table  # type: ignore[no-redef]
    assert read_table.__code__.co_filename.startswith(shared), "imported the wrong tree"
    if method == "new, csv module":
        from matchq.formats import delimited

        delimited.FAST_MIN_BYTES = 10**18
    start = time.perf_counter()
    table = read_table(Path(path), name, wanted, max_rows=10**9)
    return {"seconds": time.perf_counter() - start, "rows": table.nrows}


def run_child(method: str, shared: Path, path: Path, name: str, columns: str) -> dict[str, Any]:
    """One read in a subprocess; adds its peak RSS (MiB) from os.wait4."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", method, str(shared), str(path), name,
             columns, result.name],
            cwd=ROOT,
        )  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{method} failed on {name}")
        data: dict[str, Any] = json.loads(Path(result.name).read_text(encoding="utf-8"))
    data["rss_mb"] = usage.ru_maxrss / 1024
    return data


def baseline_tree(rev: str, folder: Path) -> Path:
    """The shared/ folder of git revision `rev`, extracted into `folder`."""
    archive = subprocess.run(
        ["git", "archive", rev, "shared"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", default="csv,json,jsonl,xlsx")
    parser.add_argument("--baseline", default="", help="git revision to compare with")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        folder, rows, which = args.write
        write_files(Path(folder), int(rows), which.split(","))
        return 0
    if args.child:
        method, shared, path, name, columns, result_file = args.child
        data = child(method, shared, path, name, columns)
        Path(result_file).write_text(json.dumps(data), encoding="utf-8")
        return 0

    formats = args.formats.split(",")
    table: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="matchq-readers-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        # in a subprocess: children forked from a parent holding the table would count its
        # pages in their peak RSS
        subprocess.run(
            [sys.executable, __file__, "--write", str(folder), str(args.rows), args.formats],
            check=True,
        )
        paths = {fmt: folder / f"table.{fmt}" for fmt in formats}
        print(f"files written in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        trees = {"new": ROOT / "shared"}
        if args.baseline:
            (folder / "old").mkdir()
            trees["old"] = baseline_tree(args.baseline, folder / "old")
        for fmt in formats:
            path = paths[fmt]
            cases = [("all", "")] + ([("name, city", ",".join(COLUMNS_2))] if fmt == "csv" else [])
            for label, columns in cases:
                methods = [*trees]
                if fmt == "csv":
                    methods.insert(1, "new, csv module")
                if fmt == "xlsx":
                    methods.append("pandas.read_excel")
                for method in methods:
                    if method == "pandas.read_excel" and columns:
                        continue
                    shared = trees.get(method.split(",")[0], ROOT / "shared")
                    runs = []
                    for _ in range(args.repeats):
                        runs.append(run_child(method, shared, path, f"table.{fmt}", columns))
                        print(f"  {fmt} {label} {method}: {runs[-1]['seconds']:.2f} s",
                              file=sys.stderr, flush=True)  # fmt: skip
                    table.append([
                        fmt, label, method, f"{runs[0]['rows']:,}", str(len(runs)),
                        f"{statistics.median(r['seconds'] for r in runs):.2f}",
                        f"{max(r['rss_mb'] for r in runs):,.0f}",
                        f"{path.stat().st_size / 1e6:,.0f}",
                    ])  # fmt: skip
    header = ["format", "columns", "method", "rows", "runs", "median s", "peak RSS MB", "file MB"]
    widths = [max(len(h), *(len(r[k]) for r in table)) for k, h in enumerate(header)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in table:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print("\nmedian s: read_table in a fresh process with the engine, pandas and openpyxl loaded; "
          "peak RSS of that process.")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
