"""Errors of the launchpad adapter, and the one place that turns library exceptions into them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fireworks.utilities.exceptions import FWError
from pymongo.errors import PyMongoError

from jiriaf_fw.core.errors import JiriafError


class LaunchpadError(JiriafError):
    """A launchpad operation failed: the store, the MongoDB server or FireWorks reported an error."""


class LaunchpadConfigError(LaunchpadError):
    """The launchpad file (`--launchpad` or `JIRIAF_FW_LAUNCHPAD`) is missing, unreadable or invalid."""

    exit_code = 2


class LaunchpadStoreError(LaunchpadError):
    """The embedded store file cannot be read, parsed or written."""


class LaunchpadLockTimeoutError(LaunchpadStoreError):
    """Another process held the embedded store's lock for longer than the lock timeout."""


class LaunchpadDatabaseError(LaunchpadError):
    """The database (a MongoDB server or the embedded store) could not be reached or rejected an operation."""


class PilotNotFoundError(LaunchpadError):
    """No Firework with the requested id exists on the launchpad."""


class PilotStateError(LaunchpadError):
    """The Firework is in a state that does not allow the requested operation."""


class PilotConflictError(LaunchpadError):
    """The new pilot clashes with a stored one (a workflow name or a port is taken)."""


@contextmanager
def translate_errors(what: str, where: str) -> Iterator[None]:
    """Re-raise pymongo, mongomock and FireWorks exceptions from the block as `LaunchpadError`s.

    `what` names the operation ("add workflow 'x'") and `where` the launchpad (the store path or the
    launchpad file), so the one-line message names what failed and on which launchpad. FireWorks reports many
    failures as plain ValueError, RuntimeError or KeyError, so those are translated too; errors that are
    already `JiriafError`s pass through unchanged.
    """
    try:
        yield
    except JiriafError:
        raise
    except PyMongoError as exc:
        raise LaunchpadDatabaseError(f"failed to {what} on launchpad {where}: {_one_line(exc)}") from exc
    except (FWError, ValueError, RuntimeError, KeyError) as exc:
        raise LaunchpadError(f"FireWorks failed to {what} on launchpad {where}: {_one_line(exc)}") from exc
    except OSError as exc:
        raise LaunchpadError(f"failed to {what} on launchpad {where}: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    """Return the exception's type and the first line of its text (FireWorks embeds whole tracebacks)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
