"""Agent settings: read once from the environment and the command line, validated, then immutable."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jiriaf_fw.core.errors import JiriafError
from jiriaf_fw.core.kube_objects import LabelValueError, check_label_value

DEFAULT_KUBELET_PORT = 10250
# A Node name is a DNS subdomain (RFC 1123): lower-case alphanumerics, '-' and '.', at most 253 characters.
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class AgentSettingsError(JiriafError):
    """An agent setting from the environment or the command line is missing or invalid."""

    exit_code = 2


@dataclass(frozen=True)
class AgentTuning:
    """Intervals and limits of the agent's loops; tests shorten them."""

    lease_interval_s: float = 10.0
    """Seconds between Lease renewals (the kubelet default)."""
    lease_duration_s: int = 40
    """`leaseDurationSeconds` written into the Lease (the kubelet default)."""
    status_interval_s: float = 60.0
    """Seconds between Node status reports when nothing changes; also the alivetime label cadence."""
    pod_poll_interval_s: float = 1.0
    """Seconds between two reads of the runtime's container states."""
    drain_timeout_s: float = 30.0
    """Upper bound in seconds for stopping every pod during shutdown."""
    slurm_margin_s: int = 60
    """Seconds the agent stops before the Slurm job's end."""
    slurm_poll_interval_s: float = 60.0
    """Seconds between two `squeue` reads of the job's time left."""
    watch_timeout_s: int = 300
    """Server-side timeout in seconds of one pod watch request; the watch resumes after it."""
    max_backoff_s: float = 30.0
    """Upper bound in seconds of the retry delay after API errors."""
    api_call_timeout_s: float = 10.0
    """Upper bound in seconds for one API call made during shutdown."""


@dataclass(frozen=True)
class AgentSettings:
    """Everything the agent needs to know at start-up."""

    nodename: str
    """Name of the Kubernetes Node (`--nodename` or `NODENAME`)."""
    kubeconfig: Path | None
    """kubeconfig file (`--kubeconfig` or `KUBECONFIG`); None lets lightkube look in the usual places."""
    pod_ip: str
    """Node InternalIP and every pod's IP (`VKUBELET_POD_IP`)."""
    kubelet_port: int
    """HTTPS port of the kubelet API (`KUBELET_PORT`), also reported in the Node's daemonEndpoints."""
    walltime_s: int
    """Seconds the agent may run (`JIRIAF_WALLTIME`); 0 means no limit. Inside Slurm, squeue wins."""
    nodetype: str
    """Value of the `jiriaf.nodetype` label (`JIRIAF_NODETYPE`)."""
    site: str
    """Value of the `jiriaf.site` label (`JIRIAF_SITE`)."""
    home: Path
    """Root of the pods' files (`HOME`)."""
    slurm_job_id: str | None = None
    """Slurm job id (`SLURM_JOB_ID`); when set, the deadline follows `squeue`."""
    bind_address: str | None = None
    """Address the kubelet API listens on (`KUBELET_BIND_ADDRESS`); None means all interfaces."""
    tls_cert: Path | None = None
    """Serving certificate (`APISERVER_CERT_LOCATION`); None generates a self-signed one."""
    tls_key: Path | None = None
    """Private key of `tls_cert` (`APISERVER_KEY_LOCATION`)."""
    tuning: AgentTuning = field(default_factory=AgentTuning)


def _require(value: str | None, name: str) -> str:
    if not value:
        raise AgentSettingsError(f"{name} is not set; export it before starting the agent")
    return value


def _port(text: str, name: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise AgentSettingsError(f"invalid {name} {text!r}: expected a port number from 1 to 65535")
    return int(text)


def _walltime(text: str) -> int:
    if not text.isdigit():
        raise AgentSettingsError(
            f"invalid JIRIAF_WALLTIME {text!r}: expected whole seconds (0 or unset means no limit)"
        )
    return int(text)


def _node_name(text: str, where: str) -> str:
    if len(text) > 253 or not _NODE_NAME.match(text):
        raise AgentSettingsError(
            f"invalid node name {text!r} from {where}: use lower-case letters, digits, '-' and '.' (RFC 1123)"
        )
    return text


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise AgentSettingsError(
            f"invalid VKUBELET_POD_IP {text!r}: expected an IPv4 or IPv6 address"
        ) from exc


def _label(env: Mapping[str, str], name: str) -> str:
    try:
        return check_label_value(env.get(name, ""), name)
    except LabelValueError as exc:
        raise AgentSettingsError(str(exc)) from exc


def _optional_path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    return Path(value) if value else None


def load_settings(
    env: Mapping[str, str],
    *,
    nodename: str | None = None,
    kubeconfig: str | None = None,
    tuning: AgentTuning | None = None,
) -> AgentSettings:
    """Build the settings from the environment; the `--nodename` and `--kubeconfig` flags win when given.

    Raises `AgentSettingsError` naming the variable and the bad value.
    """
    name_source = "--nodename" if nodename else "NODENAME"
    name = _node_name(_require(nodename or env.get("NODENAME"), name_source), name_source)
    cert, key = _optional_path(env, "APISERVER_CERT_LOCATION"), _optional_path(env, "APISERVER_KEY_LOCATION")
    if (cert is None) != (key is None):
        raise AgentSettingsError(
            "APISERVER_CERT_LOCATION and APISERVER_KEY_LOCATION must be set together, or both left unset "
            "to use a self-signed certificate"
        )
    config_path = kubeconfig or env.get("KUBECONFIG")
    return AgentSettings(
        nodename=name,
        kubeconfig=Path(config_path) if config_path else None,
        pod_ip=_ip(_require(env.get("VKUBELET_POD_IP"), "VKUBELET_POD_IP")),
        kubelet_port=_port(env.get("KUBELET_PORT") or str(DEFAULT_KUBELET_PORT), "KUBELET_PORT"),
        walltime_s=_walltime(env.get("JIRIAF_WALLTIME") or "0"),
        nodetype=_label(env, "JIRIAF_NODETYPE"),
        site=_label(env, "JIRIAF_SITE"),
        home=Path(env.get("HOME") or os.path.expanduser("~")),
        slurm_job_id=env.get("SLURM_JOB_ID") or None,
        bind_address=env.get("KUBELET_BIND_ADDRESS") or None,
        tls_cert=cert,
        tls_key=key,
        tuning=tuning or AgentTuning(),
    )
