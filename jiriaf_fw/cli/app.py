"""The `jiriaf-fw` Typer app: add, launch, list and delete JRM pilots, and print a site config.

Every command is thin: it resolves the shared options, calls one function of `jiriaf_fw.services.pilot`,
and prints what that returns, a Rich table on stdout or JSON with `--json`. Expected failures
(`JiriafError`) become one line on stderr and a non-zero exit in `main`; `--debug` adds the traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from jiriaf_fw.cli import output
from jiriaf_fw.cli.twin import twin_app
from jiriaf_fw.core.errors import JiriafError
from jiriaf_fw.services import pilot

logger = logging.getLogger(__name__)

# Piped output (into a file, grep or a test) gets wide tables instead of the 80-column default.
_PIPE_WIDTH = 200
stdout_console = Console(width=None if sys.stdout.isatty() else _PIPE_WIDTH)
stderr_console = Console(stderr=True, width=None if sys.stderr.isatty() else _PIPE_WIDTH)

# FireWorks logs every launchpad step at INFO and warns about optional extras on import; its loggers
# are shown only with --debug.
_LIBRARY_LOGGERS = ("fireworks", "launchpad", "rocket.launcher", "mongomock")

app = typer.Typer(
    name="jiriaf-fw",
    help="Run JIRIAF Resource Manager pilots: Slurm compute nodes that join a Kubernetes cluster as nodes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

LaunchpadOption = Annotated[
    Path | None,
    typer.Option(
        "--launchpad",
        envvar="JIRIAF_FW_LAUNCHPAD",
        help="FireWorks my_launchpad.yaml of a MongoDB launchpad. Default: the embedded store in "
        "$JIRIAF_FW_HOME (~/.local/share/jiriaf-fw).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]
ConfigArgument = Annotated[Path, typer.Argument(
    help="Site config: a YAML file with slurm, jrm and ssh sections, or an env.list file of the original launcher.")]

_state: dict[str, Any] = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Log debug messages and show tracebacks of errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what each step does.")] = False,
) -> None:
    _state["debug"] = debug
    level = logging.WARNING
    if verbose:
        level = logging.INFO
    if debug:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    if not debug:
        for name in _LIBRARY_LOGGERS:
            library_logger = logging.getLogger(name)
            library_logger.setLevel(logging.ERROR)
            library_logger.propagate = False


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def add_wf(
    config: ConfigArgument,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the rendered scripts and the plan; store nothing.")] = False,
    json_output: JsonOption = False,
    launchpad: LaunchpadOption = None,
) -> None:
    """Validate a site config and store one pilot workflow (one Firework) in the launchpad."""
    result = pilot.add_pilot(config, settings=pilot.PilotSettings.resolve(launchpad), dry_run=dry_run)
    if json_output:
        _print_json(result.to_dict())
        return
    if dry_run:
        stdout_console.print(output.scripts_panel(result))
    stdout_console.print(output.added_pilot_table(result))


def launch(
    site: Annotated[str | None, typer.Option("--site", help="Launch only the pilots of this site (jrm.site).")] = None,
    json_output: JsonOption = False,
    launchpad: LaunchpadOption = None,
) -> None:
    """Submit every READY pilot to Slurm (FireWorks reservation and offline launch)."""
    results = pilot.launch_pilots(settings=pilot.PilotSettings.resolve(launchpad), site=site)
    if json_output:
        _print_json([result.to_dict() for result in results])
        return
    if not results:
        stderr_console.print("no READY pilot to launch" + (f" for site {site!r}" if site else ""))
        return
    stdout_console.print(output.launched_table(results))


def get_wf(
    json_output: JsonOption = False,
    launchpad: LaunchpadOption = None,
) -> None:
    """List the pilots with their Firework state, Slurm job and Kubernetes node names."""
    views = pilot.list_pilots(settings=pilot.PilotSettings.resolve(launchpad))
    if json_output:
        _print_json([view.to_dict() for view in views])
        return
    stdout_console.print(output.pilots_table(views))


def delete_wf(
    fw_ids: Annotated[list[int], typer.Argument(help="Firework ids of the pilots to delete (see get_wf).")],
    json_output: JsonOption = False,
    launchpad: LaunchpadOption = None,
) -> None:
    """Delete pilots: cancel the Slurm job, delete the Kubernetes nodes, release the ports, remove the workflow."""
    results = pilot.delete_pilots(fw_ids, settings=pilot.PilotSettings.resolve(launchpad))
    if json_output:
        _print_json([result.to_dict() for result in results])
        return
    for result in results:
        stdout_console.print(output.deleted_line(result))


def print_config(
    config: ConfigArgument,
    json_output: JsonOption = False,
) -> None:
    """Validate a site config and print it with every default filled in and secrets redacted."""
    data = pilot.show_config(config)
    if json_output:
        _print_json(data)
    elif sys.stdout.isatty():
        stdout_console.print(output.config_yaml(data))
    else:
        sys.stdout.write(output.config_text(data))


def _reporting_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Wrap a command so an expected error becomes one line on stderr and an exit with its code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except JiriafError as error:
            if _state["debug"]:
                logger.exception("command failed")
            # Plain write, not Rich: Rich would wrap a long message and read [brackets] as markup.
            sys.stderr.write(f"error: {error}\n")
            raise typer.Exit(error.exit_code) from error

    return wrapper


# The original JIRIAF launcher's commands use underscores (add_wf); most CLIs use dashes. Both work.
for _name, _function in (("add_wf", add_wf), ("launch", launch), ("get_wf", get_wf), ("delete_wf", delete_wf),
                         ("print_config", print_config)):
    app.command(_name)(_reporting_errors(_function))
    if "_" in _name:
        app.command(_name.replace("_", "-"), hidden=True)(_reporting_errors(_function))


app.add_typer(twin_app, name="twin")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: usage errors exit 2, expected errors exit with their code after one line on stderr."""
    app(args=argv, prog_name="jiriaf-fw")
