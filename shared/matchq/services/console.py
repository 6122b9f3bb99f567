"""The web console's files and the headers they are served with (docs/console.md).

The console is a static page (an HTML file, a style sheet and plain ES modules, no build
step) packaged beside the ConsoleFunction, in `functions/console/static/`. It is served by
routes of the API itself (`GET /` and `GET /console/{asset}`), so the page and the API
share one origin and the page calls the API without CORS. The only other origin it talks
to is the data bucket (presigned uploads and result downloads); the Content-Security-Policy
names it and nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from matchq.errors import NotFound

INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


def security_headers(connect_origins: Iterable[str]) -> dict[str, str]:
    """What every console response carries: a CSP that allows this origin and the
    bucket's only, no framing, no MIME sniffing, no referrer (download links are
    presigned), and revalidation on each load (the files change with each deploy)."""
    connect = " ".join(["'self'", *connect_origins])
    policy = "; ".join(
        [
            "default-src 'self'",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'none'",
            # The forms are handled in script; nothing is ever posted by navigation.
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }


@dataclass(frozen=True)
class Asset:
    """One file of the console."""

    name: str
    body: str
    content_type: str
    etag: str


@dataclass(frozen=True)
class ConsoleResponse:
    """What the handler sends: status, headers and body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"


def load_assets(folder: Path) -> dict[str, Asset]:
    """Every servable file of `folder` (not its subfolders), read once."""
    assets: dict[str, Asset] = {}
    for path in sorted(folder.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        assets[path.name] = Asset(path.name, data.decode("utf-8"), content_type, etag)
    if INDEX not in assets:
        raise FileNotFoundError(f"{folder / INDEX} is missing")
    return assets


class Console:
    """Serves the console's page and its assets.

    `connect_origins` gives the origins the page may connect to besides its own (the
    bucket's); it is called once, on the first request, as it may need the AWS SDK.
    """

    def __init__(self, folder: Path, connect_origins: Callable[[], Iterable[str]]) -> None:
        self.assets = load_assets(folder)
        self._connect_origins = connect_origins
        self._headers: dict[str, str] | None = None

    def headers(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = security_headers(self._connect_origins())
        return dict(self._headers)

    def page(self, browser_path: str, if_none_match: str | None) -> ConsoleResponse:
        """The page at the console's root. `browser_path` is the path the browser asked for
        (API Gateway's `requestContext.path`, with the stage): `/prod` without its slash
        would resolve the page's relative links against `/`, so it is redirected to `prod/`
        (relative, so a custom domain's base path is kept; the `#token=` fragment survives
        a redirect)."""
        if browser_path and not browser_path.endswith("/"):
            location = browser_path.rsplit("/", 1)[-1] + "/"
            return ConsoleResponse(301, {"Location": location, **self.headers()})
        return self._file(self.assets[INDEX], if_none_match)

    def asset(self, name: str, if_none_match: str | None) -> ConsoleResponse:
        """A file of the console by name; the page itself only at the root."""
        asset = self.assets.get(name)
        if asset is None or name == INDEX:
            raise NotFound(f"No such console file: {name}")
        return self._file(asset, if_none_match)

    def _file(self, asset: Asset, if_none_match: str | None) -> ConsoleResponse:
        headers = {**self.headers(), "ETag": asset.etag}
        if if_none_match and asset.etag in {tag.strip() for tag in if_none_match.split(",")}:
            return ConsoleResponse(304, headers)
        return ConsoleResponse(200, headers, asset.body, asset.content_type)
