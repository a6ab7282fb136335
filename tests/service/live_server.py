"""A real uvicorn server in a subprocess on 127.0.0.1, for browser, fuzz and load tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """A running server process and where it answers."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, *, kill: bool = False) -> None:
        """Terminate (or SIGKILL, for crash tests) and wait for the process."""
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(timeout=30)


def start_server(
    store: str | Path,
    models: Path,
    workdir: Path,
    *,
    api_keys: dict[str, list[str]] | None = None,
    port: int | None = None,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    cartwise_serve: bool = False,
) -> LiveServer:
    """Start ``uvicorn cartwise.service.app:app_from_env`` (with `cartwise_serve`: the
    ``cartwise serve`` command) on the store at `store` (a path or URL) and the model folder
    `models` (a path, or a URL: ``CARTWISE_MODEL_URL``), and wait until /health answers.
    `env`: more environment variables."""
    port = port or free_port()
    environ = dict(os.environ)
    environ.update(
        CARTWISE_STORE_URL=str(store),
        CARTWISE_API_KEYS=json.dumps(api_keys or {}),
        CARTWISE_INSECURE_LOCAL="false" if api_keys else "true",
    )
    if "://" in str(models):
        environ["CARTWISE_MODEL_URL"] = str(models)
    else:
        environ["CARTWISE_MODEL_DIR"] = str(models)
    environ.update(env or {})
    log = workdir / f"server-{port}.log"
    if cartwise_serve:
        cmd = [sys.executable, "-m", "cartwise", "serve", "--port", str(port)]
        cmd += ["--log-level", "warning"]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "cartwise.service.app:app_from_env", "--factory"]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            cmd, env=environ, cwd=workdir, stdout=out, stderr=subprocess.STDOUT
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(server.url + "/health", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop(kill=True)
    raise RuntimeError(f"server did not answer /health within {timeout}s:\n{log.read_text()}")
