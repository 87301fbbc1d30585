"""An HTTP proxy in front of a real ``mlflow server`` that answers chosen requests late.

The request reaches the server at once (so the server does the work, a run is created),
but the answer is held back ``delay_s`` seconds: longer than the client's timeout, the
client gives up and retries. This is the fault of a slow or overloaded server, injected
exactly where a test wants it.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class SlowProxy:
    """Proxies to ``upstream``; the first ``times`` answers to paths ending in ``slow_path``
    come ``delay_s`` late. ``uri`` is where clients connect."""

    def __init__(self, upstream: str, slow_path: str, delay_s: float, times: int = 1) -> None:
        self.slow_path, self.delay_s, self.remaining = slow_path, delay_s, times
        self.delayed = 0
        self._lock = threading.Lock()
        target = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream_connection = http.client.HTTPConnection(target.hostname, target.port,
                                                                 timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in _HOP_BY_HOP | {"host"}}
                upstream_connection.request(self.command, self.path, body, headers)
                answer = upstream_connection.getresponse()
                payload = answer.read()
                if proxy._hold_back(self.path):
                    time.sleep(proxy.delay_s)
                try:
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in _HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting: that was the point

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_any

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _hold_back(self, path: str) -> bool:
        with self._lock:
            if self.remaining > 0 and path.split("?")[0].endswith(self.slow_path):
                self.remaining -= 1
                self.delayed += 1
                return True
        return False

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
