"""jiriaf-fw: the launcher and agent of the JIRIAF Resource Manager (JRM).

Layers, bottom to top (checked by the import-linter contract in `.importlinter`):
`core` (pure models and rendering), `adapters` (launchpad, Slurm, Kubernetes, processes, SSH),
`services` (pilot orchestration, the agent), `cli` (Typer). `testing` contains the Kubernetes
API-server double and depends on `core` only.
"""

__version__ = "0.1.0"
