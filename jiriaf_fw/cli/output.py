"""Rich renderables for the CLI. Each builder returns an object to print and prints nothing itself."""

from __future__ import annotations

from typing import Any

import yaml
from rich.console import Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from jiriaf_fw.services.pilot import AddResult, DeleteResult, LaunchResult, PilotView


def added_pilot_table(result: AddResult) -> Table:
    """Build a table with one row per node of a newly added (or, with --dry-run, planned) pilot."""
    title = "planned pilot (dry run, nothing stored)" if result.dry_run else f"pilot fw_id {result.fw_id} added"
    table = Table(title=f"{title}: site {result.site}, workflow {result.name}")
    table.add_column("fw_id", justify="right")
    table.add_column("slurm node id", justify="right")
    table.add_column("node name")
    table.add_column("kubelet port", justify="right")
    table.add_column("custom metrics ports (app:control plane)")
    for node in result.nodes:
        metrics = ", ".join(f"{app}:{cp}" for app, cp in node.metrics_ports.items()) or "-"
        table.add_row("-" if result.fw_id is None else str(result.fw_id), str(node.index), node.nodename,
                      str(node.kubelet_port), metrics)
    return table


def scripts_panel(result: AddResult) -> Group:
    """Show the rendered job script and node setup script, for --dry-run."""
    return Group(
        Panel(Syntax(result.job_script, "bash", word_wrap=True), title="job.sh"),
        Panel(Syntax(result.node_setup_script, "bash", word_wrap=True), title="node-setup.sh"),
    )


def launched_table(results: list[LaunchResult]) -> Table:
    """Build a table with one row per pilot submitted to Slurm."""
    table = Table(title="launched pilots")
    for column in ("fw_id", "site", "slurm job", "launch directory"):
        table.add_column(column)
    for result in results:
        table.add_row(str(result.fw_id), result.site, result.job_id, str(result.launch_dir))
    return table


def pilots_table(views: list[PilotView]) -> Table:
    """Build a table with one row per pilot: Firework state, Slurm job state and node names."""
    table = Table(title="JRM pilots")
    for column in ("fw_id", "name", "site", "firework", "slurm job", "slurm state", "time left", "nodes"):
        table.add_column(column)
    for view in views:
        table.add_row(
            str(view.fw_id), view.name, view.site, view.fw_state, view.job_id or "-", view.job_state or "-",
            view.time_left or "-", "\n".join(view.nodes),
        )
    return table


def deleted_line(result: DeleteResult) -> Text:
    """Summarise in one line what deleting one pilot did."""
    if result.already_deleted:
        return Text(f"fw_id {result.fw_id}: already deleted, nothing to do")
    parts = [f"fw_id {result.fw_id}: deleted"]
    if result.job_id:
        parts.append(f"Slurm job {result.job_id} {result.job_state or 'ended'}")
    parts.append(f"nodes deleted: {', '.join(result.nodes_deleted) or 'none'}")
    parts.append(f"ports released: {', '.join(map(str, result.ports_released)) or 'none'}")
    return Text("; ".join(parts))


def config_text(data: dict[str, Any]) -> str:
    """Format the validated config as plain YAML."""
    return yaml.safe_dump(data, sort_keys=False)


def config_yaml(data: dict[str, Any]) -> Syntax:
    """Show the validated config as highlighted YAML."""
    return Syntax(config_text(data), "yaml")
