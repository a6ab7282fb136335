"""OpenAI-compatible client against a real HTTP server on 127.0.0.1 in a thread."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cartwise.config import Settings
from cartwise.errors import ModelError
from cartwise.text.remote import OpenAICompatible

ALLOWED = Settings(allow_remote_generator=True)


class ChatServer(ThreadingHTTPServer):
    """Records requests; answers with `status` and `reply` after `delay` seconds."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.status = 200
        self.reply: bytes = b""
        self.delay = 0.0


class Handler(BaseHTTPRequestHandler):
    server: ChatServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, dict(self.headers), body))
        time.sleep(self.server.delay)
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.reply)))
        self.end_headers()
        # The client may have given up already (timeout test).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(self.server.reply)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def completion(text: str) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()


@pytest.fixture
def server() -> Iterator[ChatServer]:
    srv = ChatServer()
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def client(server: ChatServer, **kwargs: Any) -> OpenAICompatible:
    host, port = server.server_address[:2]
    return OpenAICompatible(f"http://{host!s}:{port}/v1/", "tiny-model", settings=ALLOWED, **kwargs)


def test_request_body_headers_and_redaction(server: ChatServer) -> None:
    server.reply = completion("  A case and a charger.  ")
    gen = client(server, api_key="sk-test")
    reply = gen.generate(
        "Shopper u77 (u77@mail.example, +44 20 7946 0958) bought a phone. Suggest accessories.",
        system="Be brief. Card on file 4111 1111 1111 1111.",
        max_new_tokens=20,
        temperature=0.2,
        user_ids=["u77"],
    )
    assert reply == "A case and a charger."
    [(path, headers, body)] = server.requests
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test"
    assert body == {
        "model": "tiny-model",
        "messages": [
            {"role": "system", "content": "Be brief. Card on file [CARD]."},
            {
                "role": "user",
                "content": "Shopper [USER] ([EMAIL], [PHONE]) bought a phone. Suggest accessories.",
            },
        ],
        "max_tokens": 20,
        "temperature": 0.2,
    }


def test_no_api_key_sends_no_authorization_header(server: ChatServer) -> None:
    server.reply = completion("ok")
    assert client(server).generate("hi") == "ok"
    assert "Authorization" not in server.requests[0][1]
    assert [m["role"] for m in server.requests[0][2]["messages"]] == ["user"]


@pytest.mark.parametrize(
    ("status", "reply", "message"),
    [
        (500, b'{"error": "boom"}', "HTTP 500"),
        (401, b"{}", "CARTWISE_OPENAI_API_KEY"),
        (200, b"not json", "non-JSON"),
        (200, b'{"choices": []}', r"choices\[0\]\.message\.content"),
    ],
)
def test_server_errors_become_clear_model_errors(
    server: ChatServer, status: int, reply: bytes, message: str
) -> None:
    server.status, server.reply = status, reply
    with pytest.raises(ModelError, match=message):
        client(server).generate("hi")


def test_timeout_is_a_clear_model_error(server: ChatServer) -> None:
    server.reply, server.delay = completion("late"), 1.0
    with pytest.raises(ModelError, match=r"did not answer within 0\.2 s.*CARTWISE_OPENAI_TIMEOUT"):
        client(server, timeout=0.2).generate("hi")


def test_unreachable_server_is_a_clear_model_error() -> None:
    srv = ChatServer()  # bound, then closed: nothing listens on the port any more
    host, port = srv.server_address[:2]
    srv.server_close()
    gen = OpenAICompatible(f"http://{host!s}:{port}/v1", "m", settings=ALLOWED)
    with pytest.raises(ModelError, match="cannot reach generator"):
        gen.generate("hi")
