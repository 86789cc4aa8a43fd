"""Settings of every pilot operation: the launchpad to open and the runner for Slurm commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jiriaf_fw.adapters.commands import CommandRunner, LocalRunner
from jiriaf_fw.adapters.launchpad import LaunchpadSettings, resolve_launchpad_settings

# How long delete_wf waits for a cancelled job to end: Slurm's KillWait (30 s by default) plus margin.
DEFAULT_CANCEL_WAIT_S = 90.0


@dataclass(frozen=True)
class PilotSettings:
    """The launchpad and the command runner used by add, launch, list and delete."""

    launchpad: LaunchpadSettings
    runner: CommandRunner = field(default_factory=LocalRunner)
    cancel_wait_s: float = DEFAULT_CANCEL_WAIT_S
    """Seconds `delete_pilots` waits for a cancelled Slurm job to end."""

    @classmethod
    def resolve(cls, launchpad_file: Path | None = None) -> PilotSettings:
        """Settings for `--launchpad FILE`, else `$JIRIAF_FW_LAUNCHPAD`, else the embedded store."""
        return cls(launchpad=resolve_launchpad_settings(launchpad_file))
