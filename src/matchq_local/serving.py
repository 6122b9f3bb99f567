"""A werkzeug WSGI server bound in the caller's thread and served from a background one."""

from __future__ import annotations

import logging
import threading
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class BackgroundServer:
    """Binds at once (a port in use raises `OSError` here), serves concurrently once started."""

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        *,
        name: str,
        request_handler: type[WSGIRequestHandler] | None = None,
    ) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=request_handler
        )
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
