"""`add_wf`: validate a site config, reserve ports, render the scripts and store one pilot workflow."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fireworks import Firework
from fireworks.user_objects.firetasks.script_task import ScriptTask

from jiriaf_fw.adapters.launchpad import add_pilot_workflow, open_launchpad, reserve_ports
from jiriaf_fw.core.config import SiteConfig, load_site_config, redacted_config_dict
from jiriaf_fw.core.config_env_list import site_config_from_env_list
from jiriaf_fw.core.naming import generate_node_names, random_token
from jiriaf_fw.core.render import (
    NodeSetupSpec,
    job_script_spec_from_config,
    node_setup_spec_from_config,
    render_job_script,
    render_node_setup,
)
from jiriaf_fw.services.pilot.results import AddResult, NodePlan
from jiriaf_fw.services.pilot.settings import PilotSettings

logger = logging.getLogger(__name__)

NODE_SETUP_NAME = "node-setup.sh"
JOB_SCRIPT_NAME = "job.sh"


class _DryRunFinished(Exception):
    """Raised inside the launchpad session of a dry run, so that nothing is saved."""

    def __init__(self, result: AddResult) -> None:
        super().__init__("dry run")
        self.result = result


def read_config(config_path: Path) -> SiteConfig:
    """Load a site config: YAML, or the original launcher's `env.list` form when the name ends in `.list`."""
    if Path(config_path).name.endswith(".list"):
        return site_config_from_env_list(config_path)
    return load_site_config(config_path)


def show_config(config_path: Path) -> dict[str, Any]:
    """Load and validate a site config; return it with defaults filled in and secrets redacted."""
    return redacted_config_dict(read_config(config_path))


def pilot_paths(config: SiteConfig, workflow_name: str) -> tuple[Path, Path]:
    """Return the launch directory and the log directory of a pilot.

    The launch directory is fixed when the pilot is added, so the stored job script is the one submitted.
    """
    site_root = Path(config.jrm.work_root) / config.jrm.site
    return site_root / "launches" / workflow_name, site_root / "logs"


def srun_command(nodes: int) -> str:
    """Return the rocket's command: one task per node, each running the node setup script of the launch dir."""
    return f"srun -N {int(nodes)} --ntasks-per-node=1 bash {NODE_SETUP_NAME}"


def _node_plans(spec: NodeSetupSpec) -> list[NodePlan]:
    """Describe each node of the rendered node setup, in `SLURM_NODEID` order."""
    return [
        NodePlan(index=index, nodename=slot.nodename, kubelet_port=slot.kubelet_port,
                 pod_ip=slot.vkubelet_pod_ip, metrics_ports=dict(slot.metrics_ports))
        for index, slot in enumerate(spec.nodes)
    ]


def _firework(config: SiteConfig, config_path: Path, result: AddResult, pilot_id: str,
              paths: tuple[Path, Path], python: str) -> Firework:
    launch_dir, log_dir = paths
    slurm = config.slurm.model_dump(mode="json", exclude_none=True)
    jiriaf = {
        "pilot_id": pilot_id,
        "site": config.jrm.site,
        "config_file": str(config_path),
        "remote": config.ssh is not None,
        "kubeconfig": config.jrm.kubeconfig,
        "python": python,
        "launch_dir": str(launch_dir),
        "log_dir": str(log_dir),
        "nodes": [
            {"index": node.index, "nodename": node.nodename, "kubelet_port": node.kubelet_port,
             "pod_ip": node.pod_ip, "metrics_ports": {str(app): cp for app, cp in node.metrics_ports.items()}}
            for node in result.nodes
        ],
        "job_script": result.job_script,
        "node_setup_script": result.node_setup_script,
        "config": redacted_config_dict(config),
    }
    spec = {"_category": config.jrm.site, "_queueadapter": slurm, "jiriaf": jiriaf}
    return Firework([ScriptTask.from_str(srun_command(config.slurm.nodes))], spec=spec, name=result.name)


def add_pilot(
    config_path: Path,
    *,
    settings: PilotSettings,
    dry_run: bool = False,
    token_source: Callable[[], str] = random_token,
) -> AddResult:
    """Validate the site config at `config_path` and store its pilot workflow; return what was stored.

    Ports and the workflow are written in one launchpad session, so a failure (or a dry run) leaves the
    launchpad unchanged. Raises ConfigError for an invalid config, PortsExhaustedError when a port range
    is full, and LaunchpadError subclasses for launchpad failures.
    """
    config_path = Path(os.path.abspath(config_path))
    config = read_config(config_path)
    python = config.jrm.python or sys.executable
    nodes = config.slurm.nodes
    names = generate_node_names(config.jrm.nodename, nodes, token_source=token_source)
    workflow_name = f"jrm-{config.jrm.site}-{names[0].rsplit('-', 1)[1]}"
    pilot_id = f"{workflow_name}-{uuid.uuid4().hex[:8]}"
    launch_dir, log_dir = pilot_paths(config, workflow_name)
    app_ports = config.jrm.custom_metrics_ports
    try:
        with open_launchpad(settings.launchpad) as session:
            kubelet_ports = reserve_ports(session, pilot_id, "kubelet", config.jrm.kubelet_port_range, nodes,
                                          range_key="jrm.kubelet_port_range")
            flat = reserve_ports(session, pilot_id, "metrics", config.jrm.metrics_port_range,
                                 nodes * len(app_ports), range_key="jrm.metrics_port_range")
            metrics = [flat[i * len(app_ports):(i + 1) * len(app_ports)] for i in range(nodes)]
            setup_spec = node_setup_spec_from_config(
                config, node_names=names, kubelet_ports=kubelet_ports, metrics_ports=metrics,
                log_dir=str(log_dir), default_python=python)
            node_setup = render_node_setup(setup_spec)
            job_script = render_job_script(job_script_spec_from_config(
                config, launch_dir=str(launch_dir), default_python=python))
            result = AddResult(
                fw_id=None, name=workflow_name, site=config.jrm.site,
                nodes=_node_plans(setup_spec),
                job_script=job_script, node_setup_script=node_setup, dry_run=dry_run,
            )
            if dry_run:
                raise _DryRunFinished(result)
            fw = _firework(config, config_path, result, pilot_id, (launch_dir, log_dir), python)
            fw_id = add_pilot_workflow(session, fw, workflow_name, metadata={"jiriaf_site": config.jrm.site})
    except _DryRunFinished as finished:
        return finished.result
    logger.info("added pilot %s as fw_id %d with nodes %s", workflow_name, fw_id, names)
    return AddResult(fw_id=fw_id, name=result.name, site=result.site, nodes=result.nodes,
                     job_script=result.job_script, node_setup_script=result.node_setup_script, dry_run=False)
