"""The env.list form of a site config, as the original JIRIAF launcher read it (`nnodes=2`, ...)."""

from __future__ import annotations

import os
from typing import Any

from pydantic import ValidationError

from jiriaf_fw.core.config import CONFIG_DIR_CONTEXT, SiteConfig, check_local_files
from jiriaf_fw.core.config_errors import format_validation_error
from jiriaf_fw.core.config_paths import config_dir_of
from jiriaf_fw.core.config_sources import read_env_list
from jiriaf_fw.core.errors import ConfigError

# The env.list keys of the original JIRIAF launcher, and where each goes. `nodetype` was the Slurm constraint
# there, and the node type label follows the constraint by default here too. The last five keys are additions.
ENV_LIST_KEYS: dict[str, str] = {
    "nnodes": "slurm.nodes",
    "nodetype": "slurm.constraint",
    "walltime": "slurm.walltime",
    "account": "slurm.account",
    "qos": "slurm.qos",
    "nodename": "jrm.nodename",
    "site": "jrm.site",
    "control_plane_ip": "jrm.control_plane_ip",
    "apiserver_port": "jrm.apiserver_port",
    "kubeconfig": "jrm.kubeconfig",
    "vkubelet_pod_ip": "jrm.vkubelet_pod_ips",
    "jrm_image": "jrm.image",
    "custom_metrics_ports": "jrm.custom_metrics_ports",
    "ssh_remote_proxy": "ssh.remote_proxy",
    "ssh_remote": "ssh.remote",
    "ssh_key": "ssh.key",
    "reservation": "slurm.reservation",
    "partition": "slurm.partition",
    "profile": "jrm.profile",
    "python": "jrm.python",
    "work_root": "jrm.work_root",
}
_ENV_LIST_NAMES = {dotted: name for name, dotted in ENV_LIST_KEYS.items()} | {"jrm.nodetype": "nodetype"}
_ENV_LIST_PATHS = frozenset({"kubeconfig", "ssh_key", "python", "work_root"})


def _env_list_key(dotted: str) -> str:
    """Map a dotted config key back to the env.list key it came from, keeping a list index."""
    for prefix, name in _ENV_LIST_NAMES.items():
        if dotted == prefix or dotted.startswith(prefix + "."):
            return name + dotted[len(prefix) :]
    return dotted


def _home_to_tilde(path: str) -> str:
    for prefix in ("${HOME}", "$HOME"):
        if path == prefix or path.startswith(prefix + "/"):
            return "~" + path[len(prefix) :]
    return path


def _env_list_mapping(entries: dict[str, str], source: str) -> dict[str, Any]:
    data: dict[str, Any] = {"slurm": {}, "jrm": {}}
    for name, value in entries.items():
        if name not in ENV_LIST_KEYS:
            raise ConfigError(f"{source}: {name}: unknown key; valid keys: {', '.join(ENV_LIST_KEYS)}")
        if value == "":
            continue
        section, key = ENV_LIST_KEYS[name].split(".")
        parsed: Any = value
        if name == "custom_metrics_ports":
            parsed = value.replace(",", " ").split()
        elif name in _ENV_LIST_PATHS:
            parsed = _home_to_tilde(value)
        data.setdefault(section, {})[key] = parsed
    return data


def site_config_from_env_list(path: str | os.PathLike[str]) -> SiteConfig:
    """Read an env.list file of the original JIRIAF launcher (`nnodes=2`, `walltime=00:05:00`, ...).

    Any `ssh_*` key makes it a remote site. A leading `$HOME` or `~` of a path stays the home directory
    of the machine the path is on. On a local site, relative paths are relative to the folder of the file
    and the files are checked as in `load_site_config`. Raises a one-line ConfigError naming the env.list
    key.
    """
    source = os.fspath(path)
    data = _env_list_mapping(read_env_list(source), source)
    try:
        config = SiteConfig.model_validate(data, context={CONFIG_DIR_CONTEXT: config_dir_of(source)})
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source, SiteConfig, _env_list_key)) from error
    check_local_files(config, source, _env_list_key)
    return config
