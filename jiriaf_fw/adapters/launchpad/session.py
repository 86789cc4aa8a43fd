"""Opening a launchpad for one operation: the embedded store under its lock, or a MongoDB server.

How the embedded store reaches FireWorks: FireWorks' `LaunchPad.__init__` builds its client from
`fireworks.fw_config.MongoClient`, a class chosen once when FireWorks is imported. That class is
mongomock-persistence's client when `MONGOMOCK_SERVERSTORE_FILE` is configured, and pymongo's otherwise.
mongomock-persistence reads the file named by the process-global `$MONGOMOCK_SERVERSTORE_FILE` and writes it
back, unlocked, at interpreter exit. Neither can be pointed at a file per operation. So each embedded
session builds its own in-memory mongomock client (`store.load_client`, whose server store
mongomock-persistence cannot touch), and `_DatabaseLaunchPad` wraps that client's database in a FireWorks
`LaunchPad` without calling `LaunchPad.__init__`. Only `store.write_atomically` writes the file, under the
lock and before the lock is released. No environment variable is read or set for this.
"""

from __future__ import annotations

import functools
import importlib
import io
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Literal

import fireworks.fw_config
from fireworks import LaunchPad
from fireworks.utilities.fw_utilities import get_fw_logger
from mongomock.database import Database as MongomockDatabase
from pymongo.errors import DuplicateKeyError

from jiriaf_fw.adapters.launchpad import store
from jiriaf_fw.adapters.launchpad.errors import LaunchpadConfigError, LaunchpadError, translate_errors
from jiriaf_fw.adapters.launchpad.port_registry import ensure_port_index
from jiriaf_fw.adapters.launchpad.settings import LaunchpadSettings, read_launchpad_file

logger = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "fireworks"
# FireWorks' "launchpad" logger streams to stdout at the launchpad's strm_lvl; stdout carries the CLI's data,
# so only CRITICAL records go there. The records still propagate to the handlers the entry point configures.
_FIREWORKS_STREAM_LEVEL = "CRITICAL"
_ASSIGNER_ID = "jiriaf-fw"


class _DatabaseLaunchPad(LaunchPad):
    """A FireWorks LaunchPad over a mongomock database built by the caller.

    It sets the attributes that `LaunchPad.__init__` of FireWorks 2.1.4 sets, around the given database
    instead of a client of FireWorks' choosing (see the module docstring). GridFS is off (`gridfs_fallback`
    None) because it only stores launch documents over MongoDB's 16 MB limit, and enabling it for mongomock
    patches the `gridfs` module for the whole process. A test compares these attributes with a real LaunchPad's.
    """

    def __init__(self, database: MongomockDatabase) -> None:
        self.host = "embedded"
        self.port = None
        self.name = database.name
        self.username = None
        self.password = None
        self.authsource = database.name
        self.mongoclient_kwargs = {}
        self.uri_mode = False
        self.logdir = None
        self.strm_lvl = _FIREWORKS_STREAM_LEVEL
        self.m_logger = get_fw_logger("launchpad", l_dir=None, stream_level=self.strm_lvl)
        self.user_indices = []
        self.wf_user_indices = []
        self.connection = database.client
        self.db = database
        self.fireworks = database.fireworks
        self.launches = database.launches
        self.offline_runs = database.offline_runs
        self.fw_id_assigner = database.fw_id_assigner
        self.workflows = database.workflows
        self.gridfs_fallback = None
        self.backup_launch_data = {}
        self.backup_fw_data = {}


@dataclass
class LaunchpadSession:
    """An open launchpad for one operation: FireWorks' `LaunchPad` plus where it lives.

    Pass it to the helpers in `jiriaf_fw.adapters.launchpad` (`reserve_ports`, `add_pilot_workflow`, ...).
    """

    lp: LaunchPad
    """The FireWorks LaunchPad; on the embedded store its changes are saved when the session block ends."""
    settings: LaunchpadSettings
    """The settings the session was opened with."""
    _undo: list[tuple[str, Callable[[], None]]] = field(default_factory=list, repr=False)

    @property
    def kind(self) -> Literal["embedded", "mongodb"]:
        """`embedded` or `mongodb`."""
        return self.settings.kind

    @property
    def location(self) -> str:
        """The store path or the launchpad file, for messages."""
        return self.settings.location

    def add_undo(self, description: str, action: Callable[[], None]) -> None:
        """Register `action`, which reverts a change, to run if the session block raises.

        Only MongoDB sessions run these actions (newest first): an embedded session reverts everything by
        not saving. MongoDB has no transaction here, so other clients can see a change before it is reverted.
        """
        self._undo.append((description, action))

    def _run_undo(self) -> None:
        for description, action in reversed(self._undo):
            try:
                with translate_errors(f"undo: {description}", self.location):
                    action()
                logger.info("reverted %s on launchpad %s", description, self.location)
            except LaunchpadError as exc:
                logger.warning("could not revert %s: %s", description, exc)
        self._undo.clear()


@contextmanager
def open_launchpad(settings: LaunchpadSettings) -> Iterator[LaunchpadSession]:
    """Open the launchpad of `settings` for one operation and yield a session.

    Embedded store: takes the exclusive lock beside the store file (waiting up to `settings.lock_timeout_s`)
    and loads the file. When the file does not exist, FireWorks' `reset` initialises an empty launchpad.
    FireWorks' indexes and the port index are re-created, the session is yielded, and when the block ends
    without an exception the store is saved atomically before the lock is released. When the block raises, nothing is saved and the file
    keeps its previous bytes. The lock is held for the whole block, so keep blocks short: never wait for Slurm
    or a process inside one.

    MongoDB (`settings.launchpad_file`): connects with `LaunchPad.from_dict` of the launchpad file. Writes are
    immediate; when the block raises, the undo actions registered by the helpers (port reservations, added
    workflows, reservations) run. Raises LaunchpadError subclasses; exceptions from the block pass through.
    """
    _import_noisy_fireworks_modules()
    if settings.store_path is not None:
        with _open_embedded(settings) as session:
            yield session
    else:
        with _open_mongodb(settings) as session:
            yield session


@functools.cache
def _import_noisy_fireworks_modules() -> None:
    """Import the FireWorks modules that write to stdout on import, with stdout captured.

    FireWorks 2.1.4 finds a task class by importing every module of `fireworks.user_objects`. Its PBS NEWT
    adapter logs "install the fireworks[newt] extra or the requests package" to stdout when `requests` is not
    installed, which would corrupt the CLI's JSON output, so the text goes to the debug log instead.
    """
    with redirect_stdout(io.StringIO()) as printed:
        importlib.import_module("fireworks.user_objects.queue_adapters.pbs_newt_adapter")
    for line in printed.getvalue().splitlines():
        logger.debug("FireWorks: %s", line)


@contextmanager
def _open_embedded(settings: LaunchpadSettings) -> Iterator[LaunchpadSession]:
    store_path = settings.store_path
    assert store_path is not None
    store.ensure_folder(store_path.parent)
    with store.locked_store(store_path, settings.lock_timeout_s):
        store.remove_stale_temp_files(store_path)
        original = store.read_store(store_path)
        with translate_errors("load the store", settings.location):
            client = store.load_client(original, store_path)
            launchpad = _DatabaseLaunchPad(client[EMBEDDED_DB_NAME])
            _prepare_embedded(launchpad, settings, created=original is None)
            ensure_port_index(launchpad.db)
        yield LaunchpadSession(lp=launchpad, settings=settings)
        data = store.dump_client(client)
        if data != original:
            store.write_atomically(store_path, data)
            logger.debug("saved launchpad store %s (%d bytes)", store_path, len(data))


def _prepare_embedded(launchpad: LaunchPad, settings: LaunchpadSettings, created: bool) -> None:
    """Initialise a new or empty store with FireWorks' `reset`; otherwise re-create FireWorks' indexes."""
    if launchpad.fw_id_assigner.find_one({}) is not None:
        launchpad.tuneup(bkground=True)
        return
    if launchpad.fireworks.find_one({}) is not None or launchpad.workflows.find_one({}) is not None:
        raise LaunchpadError(
            f"launchpad store {settings.location} contains Fireworks but no fw_id_assigner document, so new "
            "Firework ids would clash; restore the store from a backup or move it away"
        )
    launchpad.reset("", require_password=False)
    logger.info("%s launchpad store %s", "created" if created else "initialised", settings.location)


@contextmanager
def _open_mongodb(settings: LaunchpadSettings) -> Iterator[LaunchpadSession]:
    launchpad_file = settings.launchpad_file
    assert launchpad_file is not None
    config = read_launchpad_file(launchpad_file)
    _check_fireworks_uses_mongodb(settings)
    config["strm_lvl"] = _FIREWORKS_STREAM_LEVEL
    with translate_errors("connect", settings.location):
        launchpad = LaunchPad.from_dict(config)
    try:
        with translate_errors("initialise the database", settings.location):
            _prepare_mongodb(launchpad, settings)
            ensure_port_index(launchpad.db)
        session = LaunchpadSession(lp=launchpad, settings=settings)
        try:
            yield session
        except BaseException:
            session._run_undo()
            raise
    finally:
        launchpad.connection.close()


def _check_fireworks_uses_mongodb(settings: LaunchpadSettings) -> None:
    """Raise when FireWorks' config makes every `LaunchPad` use a mongomock file instead of the server."""
    mock_file = fireworks.fw_config.MONGOMOCK_SERVERSTORE_FILE
    if mock_file:
        raise LaunchpadConfigError(
            f"FireWorks is configured to use the mongomock file {mock_file} (MONGOMOCK_SERVERSTORE_FILE in "
            f"FW_config.yaml or the environment), so it would ignore the MongoDB server of {settings.location}; "
            "unset MONGOMOCK_SERVERSTORE_FILE to use --launchpad"
        )


def _prepare_mongodb(launchpad: LaunchPad, settings: LaunchpadSettings) -> None:
    """Create FireWorks' id counters and indexes in a database that has none yet; never delete anything.

    FireWorks' `reset` would delete every workflow, which is unsafe with other clients connected, so the
    counter document is inserted with a fixed `_id`: when two clients initialise at once, one insert fails on
    the unique `_id` and is ignored.
    """
    if launchpad.fw_id_assigner.find_one({}) is not None:
        return
    if launchpad.fireworks.find_one({}) is not None:
        raise LaunchpadError(
            f"database {launchpad.name!r} of {settings.location} contains Fireworks but no fw_id_assigner "
            "document, so new Firework ids would clash; repair it with FireWorks' `lpad` tools"
        )
    try:
        launchpad.fw_id_assigner.insert_one({"_id": _ASSIGNER_ID, "next_fw_id": 1, "next_launch_id": 1})
    except DuplicateKeyError:
        logger.debug("another client initialised database %r first", launchpad.name)
    launchpad.tuneup(bkground=True)
    logger.info("initialised FireWorks database %r of %s", launchpad.name, settings.location)
