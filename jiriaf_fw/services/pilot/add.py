"""`add_wf`: validate a site config, reserve ports, render the scripts and store one pilot workflow."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fireworks import Firework
from fireworks.user_objects.firetasks.script_task import ScriptTask

from jiriaf_fw.adapters.launchpad import add_pilot_workflow, open_launchpad, reserve_ports
from jiriaf_fw.core.config import SiteConfig, load_site_config, redacted_config_dict
from jiriaf_fw.core.config_env_list import site_config_from_env_list
from jiriaf_fw.core.naming import generate_node_names, random_token
from jiriaf_fw.core.render import (
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


def _node_plans(config: SiteConfig, names: Sequence[str], kubelet_ports: Sequence[int],
                metrics_ports: Sequence[Sequence[int]]) -> list[NodePlan]:
    ips = config.jrm.vkubelet_pod_ips
    pod_ips = ips if isinstance(ips, list) else [ips] * len(names)
    plans = []
    for index, name in enumerate(names):
        mapped = metrics_ports[index] if config.jrm.custom_metrics_ports else []
        plans.append(NodePlan(
            index=index, nodename=name, kubelet_port=kubelet_ports[index], pod_ip=pod_ips[index],
            metrics_ports=dict(zip(config.jrm.custom_metrics_ports, mapped, strict=True)),
        ))
    return plans


def _firework(config: SiteConfig, config_path: Path, result: AddResult, pilot_id: str,
              launch_dir: Path, python: str) -> Firework:
    slurm = config.slurm.model_dump(mode="json", exclude_none=True)
    jiriaf = {
        "pilot_id": pilot_id,
        "site": config.jrm.site,
        "config_file": str(config_path),
        "remote": config.ssh is not None,
        "kubeconfig": config.jrm.kubeconfig,
        "python": python,
        "launch_dir": str(launch_dir),
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
            node_setup = render_node_setup(node_setup_spec_from_config(
                config, node_names=names, kubelet_ports=kubelet_ports, metrics_ports=metrics,
                log_dir=str(log_dir), default_python=python))
            job_script = render_job_script(job_script_spec_from_config(
                config, launch_dir=str(launch_dir), default_python=python))
            result = AddResult(
                fw_id=None, name=workflow_name, site=config.jrm.site,
                nodes=_node_plans(config, names, kubelet_ports, metrics),
                job_script=job_script, node_setup_script=node_setup, dry_run=dry_run,
            )
            if dry_run:
                raise _DryRunFinished(result)
            fw = _firework(config, config_path, result, pilot_id, launch_dir, python)
            fw_id = add_pilot_workflow(session, fw, workflow_name, metadata={"jiriaf_site": config.jrm.site})
    except _DryRunFinished as finished:
        return finished.result
    logger.info("added pilot %s as fw_id %d with nodes %s", workflow_name, fw_id, names)
    return AddResult(fw_id=fw_id, name=result.name, site=result.site, nodes=result.nodes,
                     job_script=result.job_script, node_setup_script=result.node_setup_script, dry_run=False)
