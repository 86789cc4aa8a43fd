"""The `jiriaf-fw twin` commands: simulate the paper's scenario, fit a model from history, run live."""

from __future__ import annotations

import typer

twin_app = typer.Typer(
    name="twin",
    help="Digital twin of a stream queue: recommends thread or replica counts from the queue length.",
    no_args_is_help=True,
)
