"""A throwaway local PostgreSQL server (``initdb`` + ``pg_ctl`` in a temporary folder).

For tests and benchmarks only: the server listens on a Unix socket inside its own folder (no TCP
port at all), trusts local connections, and :meth:`LocalPostgres.stop` removes the folder.
PostgreSQL refuses to run as root; when this process is root, the server runs as the ``postgres``
OS user (created by Debian's ``postgresql`` package; ``scripts/install-postgres.sh`` installs it).

Example:
    >>> with LocalPostgres.start() as server:
    ...     store = Store.open(server.url("shop"))
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cartwise.errors import StoreError

_log = logging.getLogger(__name__)

_TOOLS = ("initdb", "pg_ctl", "postgres")
SERVICE_USER = "postgres"
SUPERUSER = "cartwise"

#: Settings for throwaway test servers: durability off (the data dies with the server anyway).
FAST: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
}


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: $PG_BIN, Debian's newest, or PATH."""
    candidates = [os.environ.get("PG_BIN", "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for folder in filter(None, candidates):
        if all((Path(folder) / tool).is_file() for tool in _TOOLS):
            return Path(folder)
    return None


def missing_reason() -> str | None:
    """Why no local server can be started here, or None when one can."""
    if find_bin_dir() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in $PG_BIN, "
            "/usr/lib/postgresql/*/bin or PATH; install them with scripts/install-postgres.sh "
            "(Debian's postgresql package)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return (
                f"running as root, and PostgreSQL refuses root: no '{SERVICE_USER}' OS user to "
                "run it as; install Debian's postgresql package (scripts/install-postgres.sh)"
            )
    return None


@dataclass
class LocalPostgres:
    """A running throwaway server; use :meth:`start`, then :meth:`url`, then :meth:`stop`."""

    folder: Path
    bin_dir: Path
    as_user: str | None
    created: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls, settings: Mapping[str, str] = FAST, *, prefix: str = "cartwise-pg-"
    ) -> LocalPostgres:
        """initdb a new cluster in a temporary folder and start it.

        Args:
            settings: server settings (``-c name=value``) on top of socket-only listening.
            prefix: name prefix of the temporary folder.

        Raises:
            StoreError: the binaries are missing or the server did not start (with its log).
        """
        reason = missing_reason()
        if reason:
            raise StoreError(reason)
        bin_dir = find_bin_dir()
        assert bin_dir is not None
        as_user = SERVICE_USER if os.geteuid() == 0 else None
        # as root, in /tmp itself: $TMPDIR may be a folder the postgres user cannot enter
        parent = "/tmp" if as_user and Path("/tmp").is_dir() else None
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        if as_user:
            entry = pwd.getpwnam(as_user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        server = cls(folder, bin_dir, as_user)
        try:
            server._init_and_start(settings)
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=120, cwd=self.folder
        )
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise StoreError(
                f"{args[0]} failed (exit {done.returncode}): {done.stderr.strip()}\n{tail}"
            )

    def _init_and_start(self, settings: Mapping[str, str]) -> None:
        data = self.folder / "data"
        self._run(
            "initdb", "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        options = {"listen_addresses": "''", "unix_socket_directories": str(self.folder)}
        options.update(settings)
        flags = " ".join(f"-c {k}={v}" for k, v in options.items())
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(data), "-l", log, "-o", flags, "-w", "-t", "60", "start")
        _log.info("throwaway PostgreSQL started in %s", self.folder)

    @property
    def socket_dir(self) -> Path:
        """The folder of the server's Unix socket (the ``host`` of a libpq connection)."""
        return self.folder

    def create_database(self, name: str, *, icu_locale: str | None = None) -> None:
        """Create a database; with `icu_locale` (e.g. "en-US"), text sorts by that language's
        rules by default, as on most production servers, instead of byte order."""
        sql = f'CREATE DATABASE "{name}"'
        if icu_locale:
            sql += f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'"
        self.execute(sql)
        self.created.append(name)

    def url(self, database: str = "postgres", *, schema: str | None = None) -> str:
        """A SQLAlchemy URL for `database`, created if needed; `schema`: its search_path."""
        if database != "postgres" and database not in self.created:
            self.create_database(database)
        url = f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.socket_dir}"
        return url + (f"&options=-csearch_path%3D{schema}" if schema else "")

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement in autocommit mode (CREATE DATABASE, CREATE SCHEMA…)."""
        import psycopg

        with psycopg.connect(
            host=str(self.socket_dir), user=SUPERUSER, dbname=database, autocommit=True
        ) as conn:
            conn.execute(sql.encode())

    def stop(self) -> None:
        """Stop the server (fast, no checkpoint) and delete its folder."""
        data = self.folder / "data"
        if (data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
            except StoreError as exc:  # pragma: no cover - best effort on teardown
                _log.warning("could not stop the throwaway PostgreSQL: %s", exc)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
