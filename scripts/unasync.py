"""Generates the synchronous SDK client from its asyncio source, as httpcore does.

`src/matchq_client/_async/client.py` is the one hand-written client; unasync turns it
into `src/matchq_client/_sync/client.py` (drops `async`/`await`, renames the names below),
lines marked `# unasync: drop` are left out, and ruff fixes what the renaming leaves
behind (import order, `for x in xs: yield x`) and formats the result, so the generated
file is lint- and format-clean as committed.

usage: python scripts/unasync.py            write src/matchq_client/_sync/client.py
       python scripts/unasync.py --check    exit 1 when that file is out of date
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file is named like
# the library it uses: find the library without that folder.
if Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import unasync

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "matchq_client" / "_async" / "client.py"
TARGET = ROOT / "src" / "matchq_client" / "_sync" / "client.py"
DROP_MARKER = "# unasync: drop"
HEADER = "# Generated from src/matchq_client/_async/client.py by scripts/unasync.py: do not edit.\n"

#: Names that become other names in the sync client (on top of unasync's own, such as
#: `__aenter__` and `AsyncIterator`). Without an entry, unasync would turn `AsyncFoo`
#: into `SyncFoo`.
REPLACEMENTS = {
    "AsyncMatchqClient": "MatchqClient",
    "AsyncClient": "Client",
    "AsyncBaseTransport": "BaseTransport",
    "AsyncSleep": "Sleep",
    "aclose": "close",
    "aread": "read",
    "aiter_bytes": "iter_bytes",
    "async_sleep": "sleep",
    "async_gather": "gather",
    "async_notify": "notify",
}


def ruff(*args: str, source: str) -> str:
    """`source` through `ruff ARGS -` with the project's settings (as if it were TARGET)."""
    result = subprocess.run(  # noqa: S603 - this Python's ruff, fixed arguments
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", str(TARGET), "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"ruff {' '.join(args)} failed on the generated client:\n{result.stderr}")
    return result.stdout


def generate() -> str:
    """The sync client's source, as it should be committed."""
    rule = unasync.Rule("/_async/", "/_sync/", additional_replacements=REPLACEMENTS)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "_async", SOURCE.name)
        source.parent.mkdir()
        shutil.copyfile(SOURCE, source)
        unasync.unasync_files([str(source)], [rule])
        code = Path(tmp, "_sync", SOURCE.name).read_text(encoding="utf-8")
    kept = [line for line in code.splitlines(keepends=True) if DROP_MARKER not in line]
    code = HEADER + "".join(kept)
    # Sort the renamed imports; `for x in xs: yield x` becomes `yield from xs` (an "unsafe"
    # fix in general, exact for the tuples the client yields from).
    fixes = ["--select", "I,UP028", "--fix", "--unsafe-fixes", "--exit-zero"]
    code = ruff("check", "--quiet", *fixes, source=code)
    return ruff("format", "--quiet", source=code)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    expected = generate()
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    name = str(TARGET.relative_to(ROOT))
    if args.check:
        if current == expected:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            f"{name} (committed)",
            f"{name} (generated)",
        )
        sys.stdout.writelines(diff)
        print(f"\n{name} is out of date: run python scripts/unasync.py", file=sys.stderr)
        return 1
    if current != expected:
        TARGET.write_text(expected, encoding="utf-8")
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
