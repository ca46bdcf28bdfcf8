"""Published router artifacts: numbered versions in one folder, a pointer to the live one, and a way back.

``costroute learn`` retrains the router from the operator's traffic; a replica must then switch to the new model
without a restart, every replica to the same one, and an operator must be able to undo a bad one in one command.
Hence a folder of immutable versions (``v0001.json`` + ``v0001.npz``, written by ``save_artifact``, never
rewritten) and one small index, ``registry.json``, naming the ``live`` version, the ``shadow`` candidate (scored
beside live, not served) and the ``history`` of live versions that ``rollback`` walks back. The index is replaced
atomically (write a temporary file, fsync, rename), so a reader sees the old pointer or the new one, never half
of either, and it never names a version whose files are not complete: files first, pointer last. Writers
(``publish``, ``promote``, ``rollback``) hold an ``flock`` on ``.lock`` so two of them cannot interleave.

Replicas poll ``live_version()``: a ``stat`` of the index (its parsed content is reused until the file changes)
or, with a ``RedisMirror``, one ``GET``, so every replica polls one place whether or not they share a disk. On a
change they call ``load(version)``, which reads the version's files (fetched from Redis into the local folder
first when only Redis has them) with ``load_artifact``: same checks, same ``ArtifactError``. Errors (Redis down,
a bad file) propagate: the caller keeps serving the artifact it has.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costroute_plugins.redis_clients import sync_client
from costroute_plugins.routing.artifact import RouterArtifact, load_artifact, save_artifact

REGISTRY_SCHEMA = 1
INDEX = "registry.json"
_VERSION = re.compile(r"^v(\d{4,})\.json$")


class RegistryError(ValueError):
    """The registry cannot do what was asked (nothing to roll back to, an unknown version, a bad index)."""


@dataclass(frozen=True)
class VersionInfo:
    """One published version as ``versions()`` lists it."""

    version: str
    published_at: float
    note: str
    summary: dict[str, Any]
    live: bool
    shadow: bool

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "published_at": self.published_at, "note": self.note,
                "live": self.live, "shadow": self.shadow, "summary": self.summary}


class RedisMirror:
    """The registry in Redis, for replicas without the folder: ``<prefix>pointer`` holds ``{"live", "shadow"}``
    (the one key replicas poll), ``<prefix>artifact:<version>:json`` / ``:npz`` the files of each version.

    Each key is written and read on its own (pipelined, no transaction), so they may sit on different masters of
    a Redis Cluster: a version's files never change once written, and the pointer names it only after both are
    stored, so a reader that follows the pointer never finds one file without the other."""

    def __init__(self, client: Any, prefix: str = "costroute:router:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "costroute:router:") -> RedisMirror:
        return cls(sync_client(url), prefix)

    def pointer(self) -> dict[str, str | None]:
        raw = self.client.get(f"{self.prefix}pointer")
        found = json.loads(raw) if raw else {}
        return {"live": found.get("live"), "shadow": found.get("shadow")}

    def set_pointer(self, live: str | None, shadow: str | None) -> None:
        self.client.set(f"{self.prefix}pointer", json.dumps({"live": live, "shadow": shadow}))

    def put(self, version: str, document: bytes, arrays: bytes) -> None:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.set(f"{self.prefix}artifact:{version}:npz", arrays)
            pipe.set(f"{self.prefix}artifact:{version}:json", document)
            pipe.execute()

    def get(self, version: str) -> tuple[bytes, bytes] | None:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.get(f"{self.prefix}artifact:{version}:json")
            pipe.get(f"{self.prefix}artifact:{version}:npz")
            document, arrays = pipe.execute()
        return (document, arrays) if document and arrays else None


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a concurrent reader sees the old or the new bytes, never a mix."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash once the folder is synced
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _empty_index() -> dict[str, Any]:
    return {"schema": REGISTRY_SCHEMA, "live": None, "shadow": None, "history": [], "versions": {}}


class ArtifactRegistry:
    """A folder of versioned artifacts with a live pointer; see the module docstring for the layout."""

    def __init__(self, directory: str | os.PathLike[str], mirror: RedisMirror | None = None) -> None:
        self.directory = Path(directory)
        self.mirror = mirror
        self._cached: tuple[tuple[int, int, int], dict[str, Any]] | None = None

    @classmethod
    def open(cls, directory: str | os.PathLike[str], redis_url: str | None = None,
             prefix: str = "costroute:router:") -> ArtifactRegistry:
        """The registry at ``directory``, mirrored to Redis when ``redis_url`` is given."""
        return cls(directory, RedisMirror.from_url(redis_url, prefix) if redis_url else None)

    # -- reading: what replicas poll ------------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        return self.directory / INDEX

    def _index(self) -> dict[str, Any]:
        """The parsed index, re-read only when the file changed (a ``stat`` per call otherwise)."""
        try:
            stat = os.stat(self.index_path)
        except FileNotFoundError:
            return _empty_index()
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        try:
            index = json.loads(self.index_path.read_bytes())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RegistryError(f"{self.index_path} is not valid JSON ({error})") from None
        if not isinstance(index, dict) or index.get("schema") != REGISTRY_SCHEMA:
            raise RegistryError(f"{self.index_path}: not a schema {REGISTRY_SCHEMA} router registry index")
        self._cached = (key, index)
        return index

    def _pointer(self) -> dict[str, str | None]:
        """The mirror's pointer when it holds one, else the folder's: a registry published without
        ``--redis-url`` is still followed by a proxy that has Redis configured."""
        if self.mirror is not None:
            pointer = self.mirror.pointer()
            if pointer["live"] is not None or pointer["shadow"] is not None:
                return pointer
        index = self._index()
        return {"live": index["live"], "shadow": index["shadow"]}

    def live_version(self) -> str | None:
        """The version replicas should serve (None: nothing published yet). Cheap enough to call every second."""
        return self._pointer()["live"]

    def shadow_version(self) -> str | None:
        """The candidate scored beside live without serving, if any."""
        return self._pointer()["shadow"]

    def path_of(self, version: str) -> Path:
        """The version's JSON in the local folder, fetched from the mirror first when only Redis has it."""
        if not re.fullmatch(r"v\d{4,}", version):
            raise RegistryError(f"{version!r} is not a registry version (v0001, v0002, ...)")
        path = self.directory / f"{version}.json"
        if path.is_file() or self.mirror is None:
            return path
        found = self.mirror.get(version)
        if found is None:
            raise RegistryError(f"version {version} is neither in {self.directory} nor in Redis")
        self.directory.mkdir(parents=True, exist_ok=True)
        _atomic_write(path.with_suffix(".npz"), found[1])  # arrays first: the JSON's checksum names them
        _atomic_write(path, found[0])
        return path

    def load(self, version: str) -> RouterArtifact:
        """The artifact of ``version``, checked as ``load_artifact`` checks any artifact."""
        return load_artifact(self.path_of(version))

    def live(self) -> RouterArtifact | None:
        version = self.live_version()
        return self.load(version) if version else None

    def versions(self) -> list[VersionInfo]:
        index = self._index()
        return [VersionInfo(version, float(meta.get("published_at", 0.0)), str(meta.get("note", "")),
                            dict(meta.get("summary", {})), version == index["live"], version == index["shadow"])
                for version, meta in sorted(index["versions"].items())]

    # -- writing: costroute learn -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Exclusive access for one writer; yields the current index, read under the lock."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._cached = None
                yield json.loads(json.dumps(self._index()))  # a private copy to edit
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _commit(self, index: dict[str, Any]) -> None:
        """Write the index (the local pointer), then point the mirror at the same versions."""
        _atomic_write(self.index_path, (json.dumps(index, indent=1) + "\n").encode())
        self._cached = None
        if self.mirror is not None:
            self.mirror.set_pointer(index["live"], index["shadow"])

    def _next_version(self) -> str:
        """One above every version file in the folder, listed or not, so a publish that died half-way is never
        overwritten by the next one."""
        numbers = [int(match.group(1)) for path in self.directory.iterdir() if (match := _VERSION.match(path.name))]
        return f"v{max(numbers, default=0) + 1:04d}"

    def publish(self, artifact: RouterArtifact, *, shadow: bool = False, note: str = "",
                summary: dict[str, Any] | None = None) -> str:
        """Store ``artifact`` as the next version and make it live (or the shadow candidate); returns the version.
        The files are written and loaded back before the pointer moves: a version that cannot load is never live."""
        with self._locked() as index:
            version = self._next_version()
            path = save_artifact(artifact, self.directory / f"{version}.json")
            load_artifact(path)
            if self.mirror is not None:
                self.mirror.put(version, path.read_bytes(), path.with_suffix(".npz").read_bytes())
            index["versions"][version] = {"published_at": time.time(), "note": note, "summary": summary or {}}
            if shadow:
                index["shadow"] = version
            else:
                index["live"] = version
                index["history"].append(version)
            self._commit(index)
        return version

    def promote(self) -> str:
        """Make the shadow candidate live; returns it."""
        with self._locked() as index:
            if not index["shadow"]:
                raise RegistryError(f"{self.directory} has no shadow version to promote; publish one with --shadow")
            version = index["shadow"]
            index["live"], index["shadow"] = version, None
            index["history"].append(version)
            self._commit(index)
        return version

    def rollback(self) -> str:
        """Make the previous live version live again; returns it. Repeating walks further back."""
        with self._locked() as index:
            history = index["history"]
            if len(history) < 2:
                raise RegistryError(f"{self.directory}: no earlier live version to roll back to "
                                    f"(live: {index['live'] or 'none'})")
            history.pop()
            index["live"] = history[-1]
            self._commit(index)
        return index["live"]

    def sync(self) -> None:
        """Copy every version and the pointer to the mirror: after Redis was down or emptied during a publish."""
        if self.mirror is None:
            return
        with self._locked() as index:
            for version in index["versions"]:
                path = self.directory / f"{version}.json"
                self.mirror.put(version, path.read_bytes(), path.with_suffix(".npz").read_bytes())
            self.mirror.set_pointer(index["live"], index["shadow"])
