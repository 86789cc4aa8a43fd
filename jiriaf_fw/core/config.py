"""The site config: which Slurm job to submit, how its nodes join Kubernetes, and how to reach the site.

A site config is a YAML file with the sections `slurm`, `jrm` and, for a remote site, `ssh`. Every model
forbids unknown keys. The loaders `load_site_config` and `site_config_from_env_list` are the only functions
here that read a file. Every error they raise is a ConfigError of one line: the file, the dotted key, what
is wrong and the bad value.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from jiriaf_fw.core.config_errors import KeyedValueError, format_validation_error, show_value
from jiriaf_fw.core.config_fields import (
    LABEL_VALUE,
    Count,
    ExtraSbatchOption,
    GpusPerNode,
    Host,
    Image,
    LabelValue,
    NodeNamePrefix,
    OptionalLabelValue,
    OptionalPathText,
    PathText,
    Port,
    PortRangeField,
    SlurmAccount,
    SlurmConstraint,
    SlurmJobName,
    SlurmMemory,
    SlurmPartition,
    SlurmQos,
    SlurmReservation,
    SshProxy,
    SshRemote,
    Walltime,
    WorkRoot,
    check_ip_address,
    check_work_root,
)
from jiriaf_fw.core.config_paths import (
    CONFIG_DIR_CONTEXT,
    check_kubeconfig_file,
    check_python_executable,
    config_dir_of,
    resolve_local_path,
)
from jiriaf_fw.core.config_sources import read_yaml_file
from jiriaf_fw.core.errors import ConfigError
from jiriaf_fw.core.ports import PortRange, format_count
from jiriaf_fw.core.walltime import SlurmDuration, parse_duration

logger = logging.getLogger(__name__)

Profile = Literal["local", "perlmutter", "ornl"]
PROFILES_NEEDING_IMAGE: frozenset[str] = frozenset({"perlmutter", "ornl"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlurmConfig(_Section):
    """The Slurm job of a pilot: one `#SBATCH` directive per set value, none for an unset one."""

    nodes: Count = Field(1, description="Number of compute nodes; each becomes one Kubernetes node.")
    walltime: Walltime = Field(
        description=(
            "Slurm time limit in any sbatch --time form (minutes, minutes:seconds, hours:minutes:seconds, "
            "days-hours, days-hours:minutes, days-hours:minutes:seconds), or UNLIMITED / 0 for no limit. "
            "Must be longer than 60 s, because the agent stops 60 s before the job ends, and at most 365 days."
        )
    )
    constraint: SlurmConstraint = Field(None, description="Slurm --constraint (node features, e.g. cpu).")
    qos: SlurmQos = Field(None, description="Slurm --qos.")
    account: SlurmAccount = Field(None, description="Slurm --account charged for the job.")
    reservation: SlurmReservation = Field(None, description="Slurm --reservation; empty or null means none.")
    partition: SlurmPartition = Field(None, description="Slurm --partition; empty or null means the default.")
    job_name: SlurmJobName = Field(None, description="Slurm --job-name; default: jiriaf-<jrm.site>.")
    cpus_per_task: Count | None = Field(None, description="Slurm --cpus-per-task of the batch step.")
    mem: SlurmMemory = Field(
        None, description="Slurm --mem per node, e.g. 4G or 4000M (megabytes by default)."
    )
    gpus_per_node: GpusPerNode = Field(None, description="Slurm --gpus-per-node: a count, or type:count.")
    exclusive: bool = Field(False, description="Add --exclusive, so no other job shares the nodes.")
    extra_sbatch: list[ExtraSbatchOption] = Field(
        default_factory=list,
        description=(
            "More sbatch options, each '--option' or '--option=value'. Options that other keys or jiriaf-fw "
            "set (--time, --nodes, --job-name, --output, --error, --chdir, --parsable, ...) are rejected, and "
            "so are --export, --get-user-env, --test-only, --hold and --wait, which break how jiriaf-fw "
            "submits and follows the job."
        ),
    )

    @property
    def walltime_duration(self) -> SlurmDuration:
        """The parsed walltime. The field validator already parsed it, so this does not raise."""
        return parse_duration(self.walltime, "sbatch")


class JrmConfig(_Section):
    """Settings of the JRM agent on each compute node and of the Kubernetes node it registers."""

    nodename: NodeNamePrefix = Field(
        description=(
            "Prefix of the Kubernetes node names, which are <nodename>-<8 hex>: a lowercase DNS label of at "
            "most 54 characters."
        )
    )
    site: LabelValue = Field(description="Value of the jiriaf.site label on every node of this site.")
    nodetype: OptionalLabelValue = Field(
        None,
        description=(
            "Value of the jiriaf.nodetype label. Default: slurm.constraint, or 'cpu' without a constraint."
        ),
    )
    control_plane_ip: Host = Field(
        None,
        description=(
            "Host name or IP address of the Kubernetes control plane, reached through SSH tunnels; required "
            "with an ssh section."
        ),
    )
    apiserver_port: Port | None = Field(
        None,
        description="Port of the Kubernetes API server on the control plane; required with an ssh section.",
    )
    kubeconfig: PathText = Field(
        "~/.kube/config",
        description=(
            "Kubeconfig the agent uses. On a local site '~' is expanded, a relative path is relative to the "
            "folder of the config file, and the file must exist. With an ssh section it is a path on the "
            "remote site and '~' is the remote home."
        ),
    )
    image: Image = Field(
        None,
        description=(
            "Container image with jiriaf-fw inside, for the perlmutter (shifter) and ornl (apptainer) "
            "profiles."
        ),
    )
    vkubelet_pod_ips: str | list[str] = Field(
        description=(
            "The node's InternalIP and every pod's podIP: one IP shared by all nodes, or a list with one IP "
            "per node."
        )
    )
    custom_metrics_ports: list[Port] = Field(
        default_factory=list,
        description=(
            "Ports where applications on each node export metrics; each gets a port of metrics_port_range on "
            "the control plane."
        ),
    )
    profile: Profile = Field(
        "local",
        description=(
            "How the agent starts: local (the site's Python), perlmutter (shifter --image=<image> --), "
            "ornl (apptainer exec <image>)."
        ),
    )
    work_root: WorkRoot = Field(
        "~/jiriaf-fw",
        description=(
            "Folder of the launch directories, <work_root>/<site>/launches/. On a local site '~' is expanded "
            "and a relative path is relative to the folder of the config file."
        ),
    )
    python: OptionalPathText = Field(
        None,
        description=(
            "Python on the compute node with jiriaf-fw installed; default: the interpreter running jiriaf-fw. "
            "On a local site '~' is expanded, a relative path is relative to the folder of the config file, "
            "and the file must be executable."
        ),
    )
    kubelet_port_range: PortRangeField = Field(
        PortRange(10000, 19999), description="Ports to choose each node's kubelet port from, 'first-last'."
    )
    metrics_port_range: PortRangeField = Field(
        PortRange(20000, 49999),
        description="Control-plane ports to choose the custom metrics ports from, 'first-last'.",
    )

    @field_validator("vkubelet_pod_ips", mode="before")
    @classmethod
    def _check_pod_ips(cls, value: Any) -> str | list[str]:
        if isinstance(value, list):
            if not value:
                raise ValueError("expected an IP address or a non-empty list of IP addresses, got []")
            return [check_ip_address(item, index) for index, item in enumerate(value)]
        return check_ip_address(value)

    @field_validator("custom_metrics_ports")
    @classmethod
    def _check_unique_ports(cls, ports: list[int]) -> list[int]:
        duplicates = sorted({port for port in ports if ports.count(port) > 1})
        if duplicates:
            raise ValueError(f"duplicate port {duplicates[0]} in {ports}")
        return ports


class SshConfig(_Section):
    """SSH access to a remote site's login node. A local site has no ssh section."""

    remote: SshRemote = Field(description="Login node as user@host.")
    remote_proxy: SshProxy = Field(
        None, description="Jump host as host or user@host, if the login node needs one."
    )
    key: PathText = Field(description="Private key file on this machine; '~' is expanded.")
    port: Port = Field(22, description="SSH port of the login node.")
    known_hosts: OptionalPathText = Field(
        None, description="known_hosts file on this machine; '~' is expanded."
    )
    key_passphrase: SecretStr | None = Field(
        None,
        description="Passphrase of the private key. It is never printed: print_config shows **********.",
    )


class SiteConfig(_Section):
    """A whole site config: the Slurm job, the agent on each node, and the SSH access for a remote site."""

    slurm: SlurmConfig = Field(description="The Slurm job that holds the nodes.")
    jrm: JrmConfig = Field(description="The JRM agent on each node and the Kubernetes side.")
    ssh: SshConfig | None = Field(None, description="SSH access to a remote site; absent for a local site.")

    @model_validator(mode="after")
    def _check_site(self, info: ValidationInfo) -> SiteConfig:
        context = info.context or {}
        self._expand_local_paths(context.get(CONFIG_DIR_CONTEXT))
        self._default_nodetype()
        self._check_remote_keys()
        self._check_pod_ips_per_node()
        self._check_image()
        self._check_port_ranges()
        return self

    def _expand_local_paths(self, config_dir: str | None) -> None:
        """Expand `~` in local paths; on a local site also join relative jrm paths to `config_dir`."""
        if self.ssh is None:
            self.jrm.kubeconfig = resolve_local_path(self.jrm.kubeconfig, config_dir)
            self.jrm.work_root = _checked_work_root(resolve_local_path(self.jrm.work_root, config_dir))
            if self.jrm.python is not None:
                self.jrm.python = resolve_local_path(self.jrm.python, config_dir)
        else:
            self.ssh.key = os.path.expanduser(self.ssh.key)
            if self.ssh.known_hosts is not None:
                self.ssh.known_hosts = os.path.expanduser(self.ssh.known_hosts)

    def _default_nodetype(self) -> None:
        if self.jrm.nodetype is not None:
            return
        constraint = self.slurm.constraint
        if constraint is None:
            self.jrm.nodetype = "cpu"
        elif len(constraint) <= 63 and LABEL_VALUE.fullmatch(constraint):
            self.jrm.nodetype = constraint
        else:
            raise KeyedValueError(
                "jrm.nodetype",
                (
                    f"slurm.constraint {constraint!r} is not a valid label value, so it cannot be the "
                    "default node type; set jrm.nodetype (letters, digits and - _ .)"
                ),
            )

    def _check_remote_keys(self) -> None:
        if self.ssh is None:
            return
        for key in ("control_plane_ip", "apiserver_port"):
            if getattr(self.jrm, key) is None:
                raise KeyedValueError(
                    f"jrm.{key}", "missing required key (a site with an ssh section needs it)"
                )

    def _check_pod_ips_per_node(self) -> None:
        ips = self.jrm.vkubelet_pod_ips
        if isinstance(ips, list) and len(ips) != self.slurm.nodes:
            raise KeyedValueError(
                "jrm.vkubelet_pod_ips",
                (
                    f"expected one IP address per node ({self.slurm.nodes}), got {len(ips)}: {ips}; "
                    "give a single IP to share it"
                ),
            )

    def _check_image(self) -> None:
        if self.jrm.profile in PROFILES_NEEDING_IMAGE and self.jrm.image is None:
            raise KeyedValueError(
                "jrm.image",
                f"missing required key (profile {self.jrm.profile!r} runs the agent in a container image)",
            )

    def _check_port_ranges(self) -> None:
        kubelet, metrics = self.jrm.kubelet_port_range, self.jrm.metrics_port_range
        if kubelet.overlaps(metrics):
            if "metrics_port_range" not in self.jrm.model_fields_set:
                raise KeyedValueError(
                    "jrm.kubelet_port_range",
                    (
                        f"range {kubelet} overlaps the default jrm.metrics_port_range {metrics}; use a "
                        "separate range or set jrm.metrics_port_range"
                    ),
                )
            kubelet_name = "jrm.kubelet_port_range"
            if kubelet_name.removeprefix("jrm.") not in self.jrm.model_fields_set:
                kubelet_name = f"the default {kubelet_name}"
            raise KeyedValueError(
                "jrm.metrics_port_range",
                (f"range {metrics} overlaps {kubelet_name} {kubelet}; use separate ranges"),
            )
        nodes = self.slurm.nodes
        if len(kubelet) < nodes:
            raise KeyedValueError(
                "jrm.kubelet_port_range",
                (
                    f"range {kubelet} has {format_count(len(kubelet), 'port')}, fewer than the "
                    f"{format_count(nodes, 'node')}"
                ),
            )
        per_node = len(self.jrm.custom_metrics_ports)
        needed = nodes * per_node
        if len(metrics) < needed:
            raise KeyedValueError(
                "jrm.metrics_port_range",
                (
                    f"range {metrics} has {format_count(len(metrics), 'port')}, but {needed} are needed "
                    f"({format_count(nodes, 'node')} x {format_count(per_node, 'custom metrics port')})"
                ),
            )


def _checked_work_root(path: str) -> str:
    """Check the work root again after `~` expansion and joining, which may add characters."""
    try:
        return str(check_work_root(path))
    except ValueError as error:
        raise KeyedValueError("jrm.work_root", str(error)) from error


_KIND_NAMES: dict[type, str] = {
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
}


def site_config_from_mapping(data: Any, source: str, *, config_dir: str | None = None) -> SiteConfig:
    """Validate an already parsed config; `source` names it in the error. Raises a one-line ConfigError.

    On a local site, relative `jrm.kubeconfig`, `jrm.work_root` and `jrm.python` are joined to `config_dir`.
    Without `config_dir` they stay relative, that is relative to the current directory. No file is checked.
    """
    if not isinstance(data, dict):
        got = (
            "an empty file"
            if data is None
            else f"{_KIND_NAMES.get(type(data), 'a value')} {show_value(data)}"
        )
        raise ConfigError(
            f"{source}: expected a mapping with the keys slurm, jrm and ssh at the top level, got {got}"
        )
    try:
        return SiteConfig.model_validate(data, context={CONFIG_DIR_CONTEXT: config_dir})
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source, SiteConfig)) from error


def load_site_config(path: str | os.PathLike[str]) -> SiteConfig:
    """Read and validate a site config YAML file.

    On a site without an ssh section, relative `jrm.kubeconfig`, `jrm.work_root` and `jrm.python` are
    made absolute against the folder of the file. Then the kubeconfig must be a file and `jrm.python`, when
    set, an executable file. Raises ConfigError with one line for a missing or unreadable file, invalid
    YAML, a top level that is not a mapping, or any invalid value.
    """
    source = os.fspath(path)
    config = site_config_from_mapping(read_yaml_file(source), source, config_dir=config_dir_of(source))
    check_local_files(config, source)
    logger.debug("loaded site config %s for site %s", source, config.jrm.site)
    return config


def check_local_files(
    config: SiteConfig, source: str, rename_key: Callable[[str], str] | None = None
) -> None:
    """Raise ConfigError if a local site's kubeconfig is not a file or its `jrm.python` is not executable.

    Remote paths are not checked here. `rename_key` maps a dotted key to the name the user wrote.
    """
    if config.ssh is not None:
        return
    name = rename_key or (lambda key: key)
    check_kubeconfig_file(config.jrm.kubeconfig, source, name("jrm.kubeconfig"))
    if config.jrm.python is not None:
        check_python_executable(config.jrm.python, source, name("jrm.python"))


def redacted_config_dict(config: SiteConfig) -> dict[str, Any]:
    """Return the config as JSON-ready data with every secret shown as `**********`."""
    return config.model_dump(mode="json")
