"""A JSON server on an ephemeral 127.0.0.1 port for connector tests (no test reaches the network).

``answer(path, query) -> (status, headers, body, delay_s)``: ``body`` is JSON-encoded unless it is a string
(sent as is, e.g. malformed JSON); a delay longer than the client's timeout makes the client give up first.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

Answer = Callable[[str, dict[str, str]], tuple[int, dict[str, str], object, float]]


@contextmanager
def serve_json(answer: Answer) -> Iterator[str]:
    """Serve ``answer`` until the block ends; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            status, headers, body, delay = answer(
                parsed.path, {k: v[0] for k, v in parse_qs(parsed.query).items()}
            )
            try:
                if delay:
                    time.sleep(delay)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
