"""The launchpad adapter: FireWorks' LaunchPad on the embedded store file or on a MongoDB server.

`open_launchpad(settings)` opens the launchpad for one operation; the helpers below take the session it
yields. Every pymongo, mongomock and FireWorks failure leaves this package as a `LaunchpadError` subclass
(port exhaustion as `jiriaf_fw.core.errors.PortsExhaustedError`). The agent never imports this package.
"""

from jiriaf_fw.adapters.launchpad.errors import (
    LaunchpadConfigError,
    LaunchpadDatabaseError,
    LaunchpadError,
    LaunchpadLockTimeoutError,
    LaunchpadStoreError,
    PilotConflictError,
    PilotNotFoundError,
    PilotStateError,
)
from jiriaf_fw.adapters.launchpad.pilots import (
    LaunchRecord,
    PilotRecord,
    add_pilot_workflow,
    delete_pilot_workflow,
    get_pilot,
    list_pilots,
    mark_pilot_lost,
    record_job_id,
    recover_offline_runs,
    reserve_for_offline,
)
from jiriaf_fw.adapters.launchpad.port_registry import ports_in_use, release_ports, reserve_ports
from jiriaf_fw.adapters.launchpad.session import LaunchpadSession, open_launchpad
from jiriaf_fw.adapters.launchpad.settings import (
    LaunchpadSettings,
    describe_launchpad,
    redact_secrets,
    resolve_launchpad_settings,
)

__all__ = [
    "LaunchRecord",
    "LaunchpadConfigError",
    "LaunchpadDatabaseError",
    "LaunchpadError",
    "LaunchpadLockTimeoutError",
    "LaunchpadSession",
    "LaunchpadSettings",
    "LaunchpadStoreError",
    "PilotConflictError",
    "PilotNotFoundError",
    "PilotRecord",
    "PilotStateError",
    "add_pilot_workflow",
    "delete_pilot_workflow",
    "describe_launchpad",
    "get_pilot",
    "list_pilots",
    "mark_pilot_lost",
    "open_launchpad",
    "ports_in_use",
    "record_job_id",
    "recover_offline_runs",
    "redact_secrets",
    "release_ports",
    "reserve_for_offline",
    "reserve_ports",
    "resolve_launchpad_settings",
]
