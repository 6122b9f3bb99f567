"""The local HS256 secret: `MATCHQ_JWT_SECRET`, else one generated once under `.matchq/`."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from matchq_local.settings import LocalSettings
from matchq_local.template import ROOT

SECRET_FILE = ROOT / ".matchq" / "jwt_secret"


def local_jwt_secret(settings: LocalSettings | None = None, path: Path = SECRET_FILE) -> str:
    """The secret `matchq serve` verifies and `matchq token` signs with."""
    configured = (settings or LocalSettings.from_env()).jwt_secret
    if configured and configured.strip():
        return configured.strip()
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
