"""Results of the pilot operations: plain dataclasses the CLI prints as tables or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class NodePlan:
    """One compute node of a pilot: its Slurm node index, Kubernetes node name and ports."""

    index: int
    """`SLURM_NODEID` of the node inside the job."""
    nodename: str
    kubelet_port: int
    pod_ip: str
    metrics_ports: dict[int, int] = field(default_factory=dict)
    """Application port on the compute node -> port reserved on the control plane."""


@dataclass(frozen=True)
class AddResult:
    """A pilot stored by `add_wf`, or only planned with `--dry-run` (then `fw_id` is None)."""

    fw_id: int | None
    name: str
    site: str
    nodes: list[NodePlan]
    job_script: str
    node_setup_script: str
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data; the scripts are included only for a dry run."""
        data = asdict(self)
        if not self.dry_run:
            data.pop("job_script")
            data.pop("node_setup_script")
        return data


@dataclass(frozen=True)
class LaunchResult:
    """A pilot submitted to Slurm by `launch`."""

    fw_id: int
    site: str
    launch_id: int
    launch_dir: Path
    job_id: str

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {**asdict(self), "launch_dir": str(self.launch_dir)}


@dataclass(frozen=True)
class PilotView:
    """One pilot as `get_wf` shows it: Firework state, Slurm job state and node names."""

    fw_id: int
    name: str
    site: str
    fw_state: str
    job_id: str | None
    job_state: str | None
    time_left: str | None
    nodes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class DeleteResult:
    """The outcome of `delete_wf` for one id."""

    fw_id: int
    already_deleted: bool
    job_id: str | None = None
    job_state: str | None = None
    nodes_deleted: list[str] = field(default_factory=list)
    ports_released: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return asdict(self)
