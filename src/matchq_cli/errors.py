"""How a failure becomes the one line `matchq: error: ...` on stderr."""

from __future__ import annotations

from urllib.parse import urlsplit

from matchq_client import ConnectionFailed, JobTimeout, MatchqError, Unauthorized

PREFIX = "matchq: error: "
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})  # noqa: S104


class CliError(Exception):
    """A failure reported as one line on stderr with exit status `exit_code` (1)."""

    exit_code = 1


class MissingExtra(CliError):
    """A command of the `local` extra run where that extra is not installed (exit 2)."""

    exit_code = 2


def is_local(url: str) -> bool:
    """True when `url` points at this machine (a local stack)."""
    return (urlsplit(url).hostname or "") in LOCAL_HOSTS


def connection_line(exc: ConnectionFailed, url: str) -> str:
    cause = exc.__cause__
    reason = (str(cause) or type(cause).__name__) if cause is not None else exc.details
    hint = (
        "is the local stack running? (make run)"
        if is_local(url)
        else "check --url or MATCHQ_URL and your network"
    )
    return f"cannot reach {url} ({reason}); {hint}"


def error_line(exc: BaseException, url: str) -> str:
    """One line describing `exc` (without the `matchq: error: ` prefix)."""
    if isinstance(exc, ConnectionFailed):
        return connection_line(exc, url)
    if isinstance(exc, Unauthorized):
        return f"{exc} (a new token for the local stack: matchq token --user NAME)"
    if isinstance(exc, MatchqError | JobTimeout | CliError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return f"unexpected {type(exc).__name__}: {exc}"
