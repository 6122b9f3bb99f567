"""The client's defaults and where they come from; no httpx here, so importing is cheap."""

from __future__ import annotations

import os

VERSION = "0.1.0"
DEFAULT_URL = "http://localhost:5000/api/v1"
URL_ENV = "MATCHQ_URL"
TOKEN_ENV = "MATCHQ_TOKEN"


def resolve_base_url(base_url: str | None) -> str:
    """`base_url`, else $MATCHQ_URL, else the local stack's URL; without a trailing slash."""
    url = base_url or os.environ.get(URL_ENV) or DEFAULT_URL
    return url.rstrip("/")


def resolve_token(token: str | None) -> str | None:
    """`token`, else $MATCHQ_TOKEN, else None (requests then get 401)."""
    if token is not None:
        return token or None
    return os.environ.get(TOKEN_ENV) or None
