"""The port registry: which pilot owns which port, in the `jiriaf_ports` collection of the launchpad.

One document per reserved port, `{"port": 10001, "owner": "<pilot>", "kind": "kubelet", "reserved_on": ...}`,
with a unique index on `port`, so two pilots never share a port even with several MongoDB clients.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pymongo.errors import DuplicateKeyError

from jiriaf_fw.adapters.launchpad.errors import PilotConflictError, translate_errors
from jiriaf_fw.core.ports import PortRange, choose_free_ports

if TYPE_CHECKING:
    from jiriaf_fw.adapters.launchpad.session import LaunchpadSession

logger = logging.getLogger(__name__)

PORTS_COLLECTION = "jiriaf_ports"
# Only concurrent MongoDB clients can collide on a port. Each collision means that another client has just
# reserved ports, so a few fresh attempts are enough unless the range is nearly full.
_MAX_ATTEMPTS = 5


def ensure_port_index(database: Any) -> None:
    """Create the unique index on `port` (idempotent; the embedded store does not keep indexes)."""
    database[PORTS_COLLECTION].create_index("port", unique=True)


def ports_in_use(session: LaunchpadSession) -> dict[int, str]:
    """Return every reserved port with its owner."""
    with translate_errors("list reserved ports", session.location):
        return {doc["port"]: doc["owner"] for doc in session.lp.db[PORTS_COLLECTION].find({}, {"_id": 0})}


def reserve_ports(
    session: LaunchpadSession,
    owner: str,
    kind: str,
    port_range: PortRange,
    count: int,
    *,
    range_key: str = "jrm.*_port_range",
) -> list[int]:
    """Reserve the `count` lowest free ports of `port_range` for `owner`; return them in ascending order.

    `kind` labels the ports (`kubelet`, `metrics`, ...); `range_key` names the range's config key in the
    error. Raises PortsExhaustedError (one line, naming the range) when too few ports are free, and
    PilotConflictError when concurrent MongoDB clients keep taking the chosen ports. On MongoDB the
    reservation is undone if the session block raises.
    """
    _check_label("owner", owner)
    _check_label("kind", kind)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    collection = session.lp.db[PORTS_COLLECTION]
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        chosen = choose_free_ports(port_range, set(ports_in_use(session)), count, key=range_key)
        if _insert_ports(session, chosen, owner, kind):
            session.add_undo(
                f"reservation of ports {chosen} for {owner!r}",
                lambda ports=chosen: collection.delete_many({"port": {"$in": ports}, "owner": owner}),
            )
            logger.info("reserved %s ports %s for %s from %s", kind, chosen, owner, port_range)
            return chosen
        logger.info("ports %s were taken by another client, retrying (attempt %d)", chosen, attempt)
    raise PilotConflictError(
        f"could not reserve {count} ports in {port_range} ({range_key}) for {owner!r} on {session.location}: "
        f"other clients took the chosen ports {_MAX_ATTEMPTS} times; retry"
    )


def _insert_ports(session: LaunchpadSession, ports: list[int], owner: str, kind: str) -> bool:
    """Insert one document per port; on a duplicate port remove this call's inserts and return False."""
    collection = session.lp.db[PORTS_COLLECTION]
    reserved_on = datetime.now(UTC).isoformat()
    inserted: list[int] = []
    with translate_errors(f"reserve ports for {owner!r}", session.location):
        try:
            for port in ports:
                collection.insert_one({"port": port, "owner": owner, "kind": kind, "reserved_on": reserved_on})
                inserted.append(port)
        except DuplicateKeyError:
            collection.delete_many({"port": {"$in": inserted}, "owner": owner})
            return False
    return True


def release_ports(session: LaunchpadSession, owner: str) -> list[int]:
    """Release every port of `owner`; return them in ascending order (empty when it had none)."""
    _check_label("owner", owner)
    collection = session.lp.db[PORTS_COLLECTION]
    with translate_errors(f"release ports of {owner!r}", session.location):
        ports = sorted(doc["port"] for doc in collection.find({"owner": owner}, {"port": 1}))
        collection.delete_many({"owner": owner, "port": {"$in": ports}})
    if ports:
        logger.info("released ports %s of %s", ports, owner)
    return ports


def _check_label(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
