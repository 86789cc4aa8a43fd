"""The embedded store file: an exclusive lock, loading into an in-memory mongomock client, atomic saving.

The file format is mongomock-persistence's (`{database: {collection: {"name": ..., "documents": [[_id,
document], ...]}}}` in MongoDB Extended JSON), so FireWorks' own tools can read a copy of the file with
`MONGOMOCK_SERVERSTORE_FILE` set. Indexes are not stored, in that format or here; the session re-creates them
each time it opens the store.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mongomock
from bson import json_util
from bson.errors import BSONError
from mongomock.store import ServerStore

from jiriaf_fw.adapters.launchpad.errors import LaunchpadLockTimeoutError, LaunchpadStoreError

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
_TEMP_SUFFIX = ".tmp"
_LOCK_POLL_INTERVAL_S = 0.02
_MOVE_AWAY_HINT = "restore it from a backup, or move it away to start an empty launchpad"


class MemoryServerStore(ServerStore):
    """mongomock's in-memory server store, out of reach of mongomock-persistence.

    Importing `mongomock_persistence` (FireWorks does so when `MONGOMOCK_SERVERSTORE_FILE` is configured in
    `FW_config.yaml` or the environment) replaces `ServerStore.__init__` with one that loads
    `$MONGOMOCK_SERVERSTORE_FILE` and registers a `weakref.finalize` writing the whole store back to that file
    at interpreter exit, without a lock. This subclass has its own `__init__`, so a store built here never loads
    that file and never gets that finalizer: only `write_atomically` writes our store file.
    """

    def __init__(self) -> None:
        self._databases = {}


def lock_path_for(store_path: Path) -> Path:
    """Return the lock file beside the store file (`launchpad.json.lock`); it is never deleted."""
    return store_path.with_name(store_path.name + LOCK_SUFFIX)


@contextmanager
def locked_store(store_path: Path, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive `flock` on the store's lock file for the block.

    Polls a non-blocking `flock` until `timeout_s` has passed, then raises LaunchpadLockTimeoutError. The
    kernel releases the lock when the holder exits or is killed, so a crashed process never leaves it held.
    """
    # NOTE: tested on a local file system only. Linux emulates flock with POSIX locks on NFS, so a store
    # shared by several hosts depends on the NFS server's lock support.
    lock_path = lock_path_for(store_path)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise LaunchpadStoreError(f"cannot open lock file {lock_path}: {exc.strerror or exc}") from exc
    try:
        _acquire(fd, lock_path, timeout_s)
        yield
    finally:
        os.close(fd)


def _acquire(fd: int, lock_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    waiting_logged = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        except OSError as exc:
            raise LaunchpadStoreError(f"cannot lock {lock_path}: {exc.strerror or exc}") from exc
        if time.monotonic() >= deadline:
            raise LaunchpadLockTimeoutError(
                f"timed out after {timeout_s:g} s waiting for the launchpad lock {lock_path}; another jiriaf-fw "
                "command is using the launchpad, retry when it has finished"
            )
        if not waiting_logged:
            logger.info("waiting for the launchpad lock %s held by another process", lock_path)
            waiting_logged = True
        time.sleep(_LOCK_POLL_INTERVAL_S)


def read_store(store_path: Path) -> bytes | None:
    """Return the store file's bytes, or None when the file does not exist yet."""
    try:
        return store_path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LaunchpadStoreError(f"cannot read launchpad store {store_path}: {exc.strerror or exc}") from exc


def load_client(data: bytes | None, store_path: Path) -> mongomock.MongoClient:
    """Build an in-memory mongomock client holding the documents of `data` (None gives an empty client).

    Raises LaunchpadStoreError naming `store_path` when `data` is not a store in the format above.
    """
    client = mongomock.MongoClient(_store=MemoryServerStore())
    if data is None:
        return client
    try:
        content = json_util.loads(data.decode("utf-8"))
    except (ValueError, TypeError, BSONError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LaunchpadStoreError(
            f"launchpad store {store_path} is not valid JSON ({first_line}); {_MOVE_AWAY_HINT}"
        ) from exc
    if not isinstance(content, Mapping):
        raise LaunchpadStoreError(f"launchpad store {store_path} is not a JSON object; {_MOVE_AWAY_HINT}")
    for db_name, collections in content.items():
        for collection_name, documents in _collections_of(collections, store_path, db_name):
            if documents:
                client[db_name][collection_name].insert_many(documents)
    return client


def _collections_of(collections: Any, store_path: Path, db_name: str) -> Iterator[tuple[str, list[dict]]]:
    """Yield (collection name, documents) of one database of a store file, checking the layout."""
    if not isinstance(collections, Mapping):
        raise LaunchpadStoreError(
            f"launchpad store {store_path}: database {db_name!r} is not a JSON object; {_MOVE_AWAY_HINT}"
        )
    for collection_name, collection in collections.items():
        entries = collection.get("documents") if isinstance(collection, Mapping) else None
        valid = isinstance(entries, list) and all(
            isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], Mapping) for entry in entries
        )
        if not valid:
            raise LaunchpadStoreError(
                f"launchpad store {store_path}: collection {db_name}.{collection_name} has no valid "
                f"'documents' list of [_id, document] pairs; {_MOVE_AWAY_HINT}"
            )
        yield collection_name, [dict(document) for _, document in entries]


def dump_client(client: mongomock.MongoClient) -> bytes:
    """Serialise every database of `client` to the store format; equal contents give equal bytes."""
    content: dict[str, dict[str, Any]] = {}
    for db_name in sorted(client.list_database_names()):
        database = client[db_name]
        content[db_name] = {
            name: {"name": name, "documents": [[document["_id"], document] for document in database[name].find({})]}
            for name in sorted(database.list_collection_names())
        }
    return json_util.dumps(content).encode("utf-8")


def write_atomically(store_path: Path, data: bytes) -> None:
    """Replace the store file with `data`: temporary file in the same folder, fsync, rename, fsync the folder.

    A reader, or a process that is killed at any point, finds either the old file or the new one, never a
    partial file. A killed writer can leave a temporary file behind; `remove_stale_temp_files` deletes it.
    """
    folder = store_path.parent
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{store_path.name}.", suffix=_TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise LaunchpadStoreError(f"cannot write launchpad store {store_path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, store_path)
        _fsync_folder(folder)
    except OSError as exc:
        _unlink_quietly(Path(temp_name))
        raise LaunchpadStoreError(f"cannot write launchpad store {store_path}: {exc.strerror or exc}") from exc
    except BaseException:
        _unlink_quietly(Path(temp_name))
        raise


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            logger.warning("cannot remove temporary file %s: %s", path, exc)


def remove_stale_temp_files(store_path: Path) -> None:
    """Delete temporary files left by writers that were killed before their rename. Call under the lock."""
    for stale in store_path.parent.glob(f".{store_path.name}.*{_TEMP_SUFFIX}"):
        logger.warning("removing %s left by an interrupted launchpad write", stale)
        _unlink_quietly(stale)


def ensure_folder(folder: Path) -> None:
    """Create the store's folder (mode 0700 for new folders) with its parents."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise LaunchpadStoreError(
            f"cannot create the launchpad folder {folder}: {exc.strerror or exc}; set JIRIAF_FW_HOME to a "
            "writable folder"
        ) from exc
