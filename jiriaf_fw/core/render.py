"""Rendering of the pilot's `job.sh` (sbatch script) and `node-setup.sh` (run once per node) from typed specs.

Rendering is a pure function from a spec to text; writing the file and submitting it happen elsewhere.
Templates come from the package `jiriaf_fw.templates` and use `StrictUndefined`, so a missing variable
raises instead of rendering empty. Every value reaches the shell through the one filter `shq`
(`shlex.quote`). Quoting cannot protect a `#SBATCH` line from a newline, so the render functions also
reject control characters in every value, even though the config already did.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import logging
import re
import shlex
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jinja2

from jiriaf_fw.core.config import SiteConfig
from jiriaf_fw.core.errors import RenderError
from jiriaf_fw.core.walltime import SlurmDuration, agent_walltime_seconds, format_sbatch_time

logger = logging.getLogger(__name__)

TEMPLATE_PACKAGE = "jiriaf_fw.templates"
JOB_TEMPLATE = "job.sh.j2"
NODE_SETUP_TEMPLATE = "node-setup.sh.j2"
SLURM_OUTPUT_NAME = "slurm-%j.out"

Profile = Literal["local", "perlmutter", "ornl"]
_OPTION_NAME = re.compile(r"[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class JobScriptSpec:
    """Everything job.sh needs. A None, empty or zero optional value leaves its directive out."""

    launch_dir: str
    python: str
    nodes: int
    walltime: SlurmDuration
    job_name: str | None = None
    constraint: str | None = None
    qos: str | None = None
    account: str | None = None
    reservation: str | None = None
    partition: str | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    gpus_per_node: int | str | None = None
    exclusive: bool = False
    extra_sbatch: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeSlot:
    """One Slurm node of the pilot, selected in node-setup.sh by its `SLURM_NODEID` (its index)."""

    nodename: str
    kubelet_port: int
    vkubelet_pod_ip: str
    metrics_ports: tuple[tuple[int, int], ...] = ()
    """Pairs (port of the application on the node, port mapped to it on the control plane)."""

    @property
    def metrics_ports_text(self) -> str:
        """The `JIRIAF_CUSTOM_METRICS_PORTS` value, `app:control-plane,app:control-plane`."""
        return ",".join(f"{app}:{mapped}" for app, mapped in self.metrics_ports)


@dataclass(frozen=True)
class NodeSetupSpec:
    """Everything node-setup.sh needs. `walltime` is the Slurm job's; the agent gets it minus 60 s."""

    nodes: tuple[NodeSlot, ...]
    kubeconfig: str
    walltime: SlurmDuration
    nodetype: str
    site: str
    python: str
    log_dir: str
    profile: Profile = "local"
    image: str | None = None


def shell_quote(value: str | int) -> str:
    """Quote one value for bash (the `shq` filter). Raises RenderError for anything but text or an int."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RenderError(f"cannot quote {value!r} for a shell script: expected text or an integer")
    return shlex.quote(str(value))


def _read_template(name: str) -> str | None:
    resource = importlib.resources.files(TEMPLATE_PACKAGE).joinpath(name)
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FunctionLoader(_read_template),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # the output is bash, quoted by `shq`, not HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENVIRONMENT.filters["shq"] = shell_quote


def _strings_in(value: Any, name: str) -> Iterator[tuple[str, str]]:
    """Yield (name, text) for every string inside a spec value, walking dataclasses and tuples."""
    if isinstance(value, str):
        yield name, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _strings_in(getattr(value, field.name), f"{name}.{field.name}")
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from _strings_in(item, f"{name}[{index}]")


def _reject_control_characters(spec: Any, template: str) -> None:
    for name, text in _strings_in(spec, "spec"):
        for char in text:
            if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
                raise RenderError(
                    f"cannot render {template}: {name} {text!r} contains the control character {char!r}"
                )


def _check_absolute(path: str, name: str, template: str) -> None:
    if not path.startswith("/"):
        raise RenderError(f"cannot render {template}: {name} {path!r} must be an absolute path")


def sbatch_directives(spec: JobScriptSpec) -> list[tuple[str, str | None]]:
    """Return the (option, value) pairs of job.sh's `#SBATCH` lines; value None means a bare flag.

    Raises RenderError for an extra option that is not `--option` or `--option=value`.
    """
    pairs: list[tuple[str, str | int | None]] = [
        ("job-name", spec.job_name),
        ("nodes", spec.nodes),
        ("time", format_sbatch_time(spec.walltime)),
        ("constraint", spec.constraint),
        ("qos", spec.qos),
        ("account", spec.account),
        ("reservation", spec.reservation),
        ("partition", spec.partition),
        ("cpus-per-task", spec.cpus_per_task),
        ("mem", spec.mem),
        ("gpus-per-node", spec.gpus_per_node or None),
    ]
    directives = [(option, str(value)) for option, value in pairs if value is not None and value != ""]
    if spec.exclusive:
        directives.append(("exclusive", None))
    for extra in spec.extra_sbatch:
        option, equals, value = extra.removeprefix("--").partition("=")
        if not extra.startswith("--") or _OPTION_NAME.fullmatch(option) is None:
            raise RenderError(
                f"cannot render {JOB_TEMPLATE}: invalid sbatch option {extra!r}; "
                "expected --option or --option=value"
            )
        directives.append((option, value if equals else None))
    output = f"{spec.launch_dir.rstrip('/')}/{SLURM_OUTPUT_NAME}"
    directives += [("output", output), ("error", output), ("chdir", spec.launch_dir)]
    for option, value in directives:
        # sbatch reads `\` as an escape even inside quotes, so a quoted backslash would not survive.
        if value is not None and "\\" in value:
            raise RenderError(
                f"cannot render {JOB_TEMPLATE}: #SBATCH --{option} value {value!r} contains a "
                "backslash, which sbatch would drop"
            )
    return directives


def render_job_script(spec: JobScriptSpec) -> str:
    """Render job.sh: the `#SBATCH` lines, then the offline FireWorks rocket behind a signal-forwarding trap.

    Raises RenderError for a control character in any value, a relative launch directory or a bad extra
    option, and WalltimeError for an unknown walltime.
    """
    _reject_control_characters(spec, JOB_TEMPLATE)
    _check_absolute(spec.launch_dir, "launch_dir", JOB_TEMPLATE)
    directives = sbatch_directives(spec)
    template = _ENVIRONMENT.get_template(JOB_TEMPLATE)
    return template.render(directives=directives, launch_dir=spec.launch_dir, python=spec.python)


_PROFILES = ("local", "perlmutter", "ornl")


def _check_profile(spec: NodeSetupSpec) -> None:
    if spec.profile not in _PROFILES:
        raise RenderError(
            f"cannot render {NODE_SETUP_TEMPLATE}: unknown profile {spec.profile!r}; "
            f"expected one of {', '.join(_PROFILES)}"
        )
    if spec.profile != "local" and not spec.image:
        raise RenderError(f"cannot render {NODE_SETUP_TEMPLATE}: profile {spec.profile!r} needs an image")


def render_node_setup(spec: NodeSetupSpec) -> str:
    """Render node-setup.sh: pick this node's slot by SLURM_NODEID, export the agent's environment, exec it.

    Raises RenderError for a control character in any value, no nodes, or a container profile without
    an image, and WalltimeError when the walltime leaves the agent no time (60 s or less).
    """
    _reject_control_characters(spec, NODE_SETUP_TEMPLATE)
    if not spec.nodes:
        raise RenderError(f"cannot render {NODE_SETUP_TEMPLATE}: the pilot has no nodes")
    _check_profile(spec)
    names = [slot.nodename for slot in spec.nodes]
    if len(set(names)) != len(names):
        raise RenderError(f"cannot render {NODE_SETUP_TEMPLATE}: node names repeat in {names}")
    template = _ENVIRONMENT.get_template(NODE_SETUP_TEMPLATE)
    return template.render(
        nodes=spec.nodes,
        has_metrics=any(slot.metrics_ports for slot in spec.nodes),
        kubeconfig=spec.kubeconfig,
        agent_walltime_s=agent_walltime_seconds(spec.walltime),
        nodetype=spec.nodetype,
        site=spec.site,
        python=spec.python,
        log_dir=spec.log_dir,
        profile=spec.profile,
        image=spec.image,
    )


def job_script_spec_from_config(config: SiteConfig, *, launch_dir: str, default_python: str) -> JobScriptSpec:
    """Build the JobScriptSpec of a site: its slurm section, run in `launch_dir`.

    The rocket runs with `jrm.python`, or `default_python` when that is unset. The job name defaults to
    `jiriaf-<jrm.site>`.
    """
    slurm = config.slurm
    return JobScriptSpec(
        launch_dir=launch_dir,
        python=config.jrm.python or default_python,
        nodes=slurm.nodes,
        walltime=slurm.walltime_duration,
        job_name=slurm.job_name or f"jiriaf-{config.jrm.site}",
        constraint=slurm.constraint,
        qos=slurm.qos,
        account=slurm.account,
        reservation=slurm.reservation,
        partition=slurm.partition,
        cpus_per_task=slurm.cpus_per_task,
        mem=slurm.mem,
        gpus_per_node=slurm.gpus_per_node,
        exclusive=slurm.exclusive,
        extra_sbatch=tuple(slurm.extra_sbatch),
    )


def node_setup_spec_from_config(
    config: SiteConfig,
    *,
    node_names: Sequence[str],
    kubelet_ports: Sequence[int],
    metrics_ports: Sequence[Sequence[int]] = (),
    log_dir: str,
    default_python: str,
) -> NodeSetupSpec:
    """Build the NodeSetupSpec of a site from the names and ports reserved for its nodes.

    `metrics_ports[i][k]` is the control-plane port of node i for `jrm.custom_metrics_ports[k]`; leave it
    empty when the site has no custom metrics ports. Raises ValueError when a list does not have one
    entry per node (and per custom metrics port).
    """
    nodes = config.slurm.nodes
    app_ports = config.jrm.custom_metrics_ports
    per_node = list(metrics_ports) if app_ports else [[] for _ in range(nodes)]
    if len(node_names) != nodes or len(kubelet_ports) != nodes or len(per_node) != nodes:
        raise ValueError(
            f"expected {nodes} node names, kubelet ports and metrics port lists, got "
            f"{len(node_names)}, {len(kubelet_ports)} and {len(per_node)}"
        )
    if any(len(ports) != len(app_ports) for ports in per_node):
        raise ValueError(
            f"expected {len(app_ports)} metrics ports per node, got {[list(p) for p in per_node]}"
        )
    pod_ips = config.jrm.vkubelet_pod_ips
    ips = pod_ips if isinstance(pod_ips, list) else [pod_ips] * nodes
    slots = tuple(
        NodeSlot(name, port, ip, tuple(zip(app_ports, mapped, strict=True)))
        for name, port, ip, mapped in zip(node_names, kubelet_ports, ips, per_node, strict=True)
    )
    return NodeSetupSpec(
        nodes=slots,
        kubeconfig=config.jrm.kubeconfig,
        walltime=config.slurm.walltime_duration,
        nodetype=config.jrm.nodetype or "cpu",
        site=config.jrm.site,
        python=config.jrm.python or default_python,
        log_dir=log_dir,
        profile=config.jrm.profile,
        image=config.jrm.image,
    )
