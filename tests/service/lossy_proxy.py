"""A loopback HTTP proxy that loses answers on purpose: it forwards a request to the service,
waits for the service's answer, and closes the connection without passing the answer on, for
the first N requests of a given method and path. The service did the work; the client saw a
dropped connection. That is the failure a retry must survive without doing the work twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class LossyProxy:
    """Forwards to `upstream`; ``drops[(method, path)]`` answers are lost before any is passed."""

    def __init__(self, upstream: str, drops: dict[tuple[str, str], int]) -> None:
        self.upstream = upstream
        self.drops = Counter(drops)
        self.seen: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        self.url = ""

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        answer = httpx.request(
            handler.command, self.upstream + handler.path, headers=headers, content=body
        )
        key = (handler.command, handler.path.split("?")[0])
        with self.lock:
            self.seen[key] += 1
            lose = self.drops[key] > 0
            self.drops[key] -= 1 if lose else 0
        if lose:
            handler.close_connection = True  # the service answered; the client never hears it
            return
        handler.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in HOP_BY_HOP:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.content)))
        handler.end_headers()
        handler.wfile.write(answer.content)


@contextmanager
def lossy_proxy(upstream: str, drops: dict[tuple[str, str], int]) -> Iterator[LossyProxy]:
    """A running :class:`LossyProxy` on a free loopback port."""
    proxy = LossyProxy(upstream, drops)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            proxy.forward(self)

        do_POST = do_PUT = do_DELETE = do_OPTIONS = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
