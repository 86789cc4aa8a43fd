"""Records of deleted pilots, which distinguish deleting one twice from an id that never existed."""

from __future__ import annotations

from datetime import UTC, datetime

from jiriaf_fw.adapters.launchpad.errors import translate_errors
from jiriaf_fw.adapters.launchpad.session import LaunchpadSession

DELETED_COLLECTION = "jiriaf_deleted_pilots"


def record_deleted(session: LaunchpadSession, fw_id: int, name: str) -> None:
    """Remember that pilot `fw_id` (workflow `name`) was deleted."""
    with translate_errors(f"record the deletion of fw_id {fw_id}", session.location):
        session.lp.db[DELETED_COLLECTION].update_one(
            {"fw_id": fw_id},
            {"$set": {"fw_id": fw_id, "name": name, "deleted_on": datetime.now(UTC).isoformat()}},
            upsert=True,
        )


def was_deleted(session: LaunchpadSession, fw_id: int) -> bool:
    """Return True when pilot `fw_id` was deleted earlier."""
    with translate_errors(f"look up the deletion of fw_id {fw_id}", session.location):
        return session.lp.db[DELETED_COLLECTION].find_one({"fw_id": fw_id}, {"_id": 1}) is not None
