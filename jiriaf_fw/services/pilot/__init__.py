"""Pilot orchestration: add a pilot workflow, launch it on Slurm, list pilots, delete them.

Each operation opens the launchpad for short, separate steps and never holds it while waiting for Slurm
or Kubernetes, because the embedded store is locked for as long as it is open.
"""

from jiriaf_fw.services.pilot.add import add_pilot, show_config
from jiriaf_fw.services.pilot.delete import delete_pilots
from jiriaf_fw.services.pilot.launch import launch_pilots
from jiriaf_fw.services.pilot.results import AddResult, DeleteResult, LaunchResult, NodePlan, PilotView
from jiriaf_fw.services.pilot.settings import PilotSettings
from jiriaf_fw.services.pilot.status import list_pilots

__all__ = [
    "AddResult",
    "DeleteResult",
    "LaunchResult",
    "NodePlan",
    "PilotSettings",
    "PilotView",
    "add_pilot",
    "delete_pilots",
    "launch_pilots",
    "list_pilots",
    "show_config",
]
