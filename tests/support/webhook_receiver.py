"""A webhook receiver for tests: a local HTTP server that keeps every JSON document POSTed to it, as Slack or an
alert router would receive costroute's alerts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """``url`` to configure, ``received`` the documents in arrival order; ``status`` is what it answers."""

    def __init__(self, status: int = 204) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/alerts"

    def wait_for(self, count: int, where: Callable[[dict[str, Any]], bool] = lambda _: True,
                 timeout: float = 10) -> list[dict[str, Any]]:
        """The documents ``where`` accepts, once there are ``count`` of them or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [document for document in list(self.received) if where(document)]
            if len(matching) >= count or time.monotonic() > deadline:
                return matching
            time.sleep(0.1)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def webhook_receiver(status: int = 204) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(status)
    try:
        yield receiver
    finally:
        receiver.stop()
