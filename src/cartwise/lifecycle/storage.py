"""Where model versions are kept: a local folder, or any fsspec URL shared by several machines.

:class:`~cartwise.lifecycle.versions.Versions` reads and writes its folder through a
:class:`Folder`:

- :class:`LocalFolder` (a path): files replaced by one rename, versions published by renaming
  their finished folder into place, changes serialised by the folder's lock file
  (:mod:`cartwise.lifecycle.files`);
- :class:`RemoteFolder` (``s3://bucket/models``, ``gs://...``, ``file:///shared/models``,
  ``memory://...``: any URL fsspec opens with the matching package installed, e.g. ``s3fs``):
  a version's files are uploaded with its ``config.json`` last, so it is listed only once
  whole; small files are written under a temporary name and moved over the old one; a version
  is downloaded once per machine into a local cache folder before it is loaded.

Object stores have no lock shared by every machine: on a remote URL (other than ``file://``,
which uses the lock file) read-then-write changes are serialised within one process only, so
activate, roll back and prune from one place at a time (the scheduled retrain job, or an
operator), as docs/deployment.md says.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import uuid
from collections.abc import Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from cartwise.errors import ConfigError
from cartwise.lifecycle.files import folder_lock, write_atomic

CONFIG = "config.json"
#: Where downloaded versions of a remote URL are kept when no cache folder is given.
DEFAULT_CACHE = Path("var/model-cache")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(root: Path | str) -> bool:
    """Whether `root` is a URL (``scheme://...``) rather than a folder path."""
    return isinstance(root, str) and _URL.match(root) is not None


class Folder(Protocol):
    """The operations :class:`~cartwise.lifecycle.versions.Versions` needs from its folder;
    `rel` names a file relative to the folder (``ACTIVE``, ``<version>/metrics.json``)."""

    where: str
    #: a local folder for machine-local files: the folder itself, or a remote URL's cache
    local_root: Path

    def read_text(self, rel: str) -> str | None:
        """The file's text, None when it does not exist."""

    def write_text(self, rel: str, text: str) -> None:
        """Replace the file: a reader sees the old text or the new one, never a mix."""

    def is_file(self, rel: str) -> bool:
        """Whether the file exists."""

    def versions(self) -> list[str]:
        """Names of the subfolders that hold a whole saved model (their config.json)."""

    def staging(self, name: str) -> Path:
        """A new, empty local folder to save version `name` into before :meth:`publish`."""

    def publish(self, staged: Path, name: str) -> None:
        """Make the staged folder version `name`; it is listed only once complete."""

    def remove(self, name: str) -> None:
        """Delete version `name`; it leaves :meth:`versions` at once."""

    def local_dir(self, name: str) -> Path:
        """A local folder holding version `name`'s files (downloaded once when remote)."""

    def lock(self) -> AbstractContextManager[None]:
        """Serialise read-then-write changes (see the module docstring for remote URLs)."""

    def stamp(self, rel: str) -> Hashable | None:
        """A cheap key that changes whenever the file is replaced, or None when there is no
        cheap check (the caller re-reads it on an interval instead)."""


def open_folder(root: Path | str, cache: Path | None = None) -> Folder:
    """The folder of `root`: a :class:`RemoteFolder` for a URL (downloads kept under `cache`),
    else a :class:`LocalFolder`."""
    if is_url(root):
        return RemoteFolder(str(root), cache or DEFAULT_CACHE)
    return LocalFolder(Path(root))


class LocalFolder:
    """Versions in a local (or network-mounted) folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)
        self.local_root = root

    def read_text(self, rel: str) -> str | None:
        try:
            return (self.root / rel).read_text()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_text(self, rel: str, text: str) -> None:
        write_atomic(self.root / rel, text)

    def is_file(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [
            p.name
            for p in self.root.iterdir()
            if not p.name.startswith(".") and (p / CONFIG).is_file()
        ]

    def staging(self, name: str) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f".{name}.tmp"  # same file system: published by one rename

    def publish(self, staged: Path, name: str) -> None:
        staged.replace(self.root / name)

    def remove(self, name: str) -> None:
        doomed = self.root / f".{name}.deleting"
        (self.root / name).replace(doomed)  # gone from versions() in one rename
        shutil.rmtree(doomed, ignore_errors=True)

    def local_dir(self, name: str) -> Path:
        return self.root / name

    def lock(self) -> AbstractContextManager[None]:
        return folder_lock(self.root)

    def stamp(self, rel: str) -> Hashable | None:
        try:
            st = os.stat(self.root / rel)
        except OSError:
            return "missing"
        return (st.st_ino, st.st_mtime_ns, st.st_size)  # a replaced file is a new inode


_PROCESS_LOCKS: dict[str, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


class RemoteFolder:
    """Versions under an fsspec URL, downloaded into `cache` on first load.

    Raises:
        ConfigError: fsspec, or the package for the URL's scheme (e.g. s3fs), is missing.
    """

    def __init__(self, url: str, cache: Path) -> None:
        try:
            import fsspec
        except ImportError as exc:  # a required dependency, but say what to do
            raise ConfigError(
                f"model URL {url}: fsspec is not installed (pip install fsspec)"
            ) from exc
        try:
            fs, path = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            scheme = url.split("://", 1)[0]
            raise ConfigError(
                f"model URL {url}: fsspec cannot open '{scheme}://' ({exc}); install the package "
                "for it (s3fs for s3://, gcsfs for gs://, adlfs for az://) or use a folder path"
            ) from exc
        self.fs: Any = fs
        self.path = str(path).rstrip("/") or "/"
        self.where = url
        self.cache = cache / hashlib.sha256(url.encode()).hexdigest()[:16]
        self.local_root = self.cache
        self._local = type(fs).__name__ == "LocalFileSystem"

    def _p(self, rel: str) -> str:
        return f"{self.path}/{rel}"

    def read_text(self, rel: str) -> str | None:
        try:
            data: bytes = self.fs.cat_file(self._p(rel))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        return data.decode()

    def write_text(self, rel: str, text: str) -> None:
        target = self._p(rel)
        tmp = str(
            PurePosixPath(target).with_name(f".{PurePosixPath(target).name}.{uuid.uuid4().hex}.tmp")
        )
        self.fs.makedirs(str(PurePosixPath(target).parent), exist_ok=True)
        self.fs.pipe_file(tmp, text.encode())
        try:
            self.fs.mv(tmp, target)  # a rename on local disks, copy + delete on object stores
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)

    def is_file(self, rel: str) -> bool:
        return bool(self.fs.isfile(self._p(rel)))

    def versions(self) -> list[str]:
        found = self.fs.glob(self._p(f"*/{CONFIG}"))  # one listing, not one call per version
        names = {PurePosixPath(str(p)).parent.name for p in found}
        return [n for n in names if not n.startswith(".")]

    def staging(self, name: str) -> Path:
        folder = self.cache / f".{name}.{uuid.uuid4().hex}.staging"
        folder.parent.mkdir(parents=True, exist_ok=True)
        return folder

    def publish(self, staged: Path, name: str) -> None:
        files = sorted(p for p in staged.rglob("*") if p.is_file())
        files.sort(key=lambda p: p.relative_to(staged).as_posix() == CONFIG)  # config.json last
        for file in files:
            rel = file.relative_to(staged).as_posix()
            target = self._p(f"{name}/{rel}")
            self.fs.makedirs(str(PurePosixPath(target).parent), exist_ok=True)
            self.fs.put_file(str(file), target)
        # this machine keeps what it saved (no download when it loads it); when a copy is
        # cached already, the caller removes the staged one
        with suppress(OSError):
            staged.replace(self.cache / name)

    def remove(self, name: str) -> None:
        if self.fs.exists(self._p(f"{name}/{CONFIG}")):
            self.fs.rm(self._p(f"{name}/{CONFIG}"))  # unlisted first, then the rest
        if self.fs.exists(self._p(name)):
            self.fs.rm(self._p(name), recursive=True)
        shutil.rmtree(self.cache / name, ignore_errors=True)

    def local_dir(self, name: str) -> Path:
        kept = self.cache / name
        if (kept / CONFIG).is_file():
            return kept  # versions never change after publishing (marks are read remotely)
        tmp = self.cache / f".{name}.{uuid.uuid4().hex}.download"
        try:
            for remote in self.fs.find(self._p(name)):
                rel = PurePosixPath(str(remote)).relative_to(PurePosixPath(self._p(name)))
                local = tmp / rel
                local.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(remote, str(local))
            with suppress(OSError):  # whole or not at all; another process may have won
                tmp.replace(kept)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._drop_stale_copies(keep=name)
        return kept

    def _drop_stale_copies(self, keep: str) -> None:
        """Remove cached copies of versions no longer at the URL (pruned elsewhere)."""
        listed = {*self.versions(), keep}
        for folder in self.cache.iterdir():
            if not folder.name.startswith(".") and folder.name not in listed:
                shutil.rmtree(folder, ignore_errors=True)

    def lock(self) -> AbstractContextManager[None]:
        if self._local:
            return folder_lock(Path(self.path))
        return _process_lock(self.where)

    def stamp(self, rel: str) -> Hashable | None:
        return None  # a HEAD request costs as much as reading the file: poll on an interval


@contextmanager
def _process_lock(key: str) -> Iterator[None]:
    with _PROCESS_LOCKS_GUARD:
        lock = _PROCESS_LOCKS.setdefault(key, threading.RLock())
    with lock:
        yield
