"""Local paths of a site config: where a relative path points, and the checks of the files it names.

The agent runs in the launch directory, not where `jiriaf-fw` was started, so a relative path in a config
file is taken relative to the folder of that file and stored as an absolute path.
"""

from __future__ import annotations

import logging
import os

from jiriaf_fw.core.errors import ConfigError

logger = logging.getLogger(__name__)

# Key of the pydantic validation context whose value is the folder that relative paths are resolved against.
CONFIG_DIR_CONTEXT = "config_dir"


def config_dir_of(source: str) -> str:
    """Return the absolute folder of the config file `source`."""
    return os.path.dirname(os.path.abspath(source))


def resolve_local_path(path: str, config_dir: str | None) -> str:
    """Expand `~` in `path`, then join a relative result to `config_dir`.

    With `config_dir` None a relative path is kept as written, so it stays relative to the current
    directory of whoever uses it.
    """
    expanded = os.path.expanduser(path)
    if config_dir is None or os.path.isabs(expanded):
        return expanded
    return os.path.normpath(os.path.join(config_dir, expanded))


def check_kubeconfig_file(path: str, source: str, key: str) -> None:
    """Raise ConfigError unless `path` is a file; `source` and `key` name where the path came from."""
    if not os.path.isfile(path):
        raise ConfigError(f"{source}: {key}: file not found: {path!r}")


def check_python_executable(path: str, source: str, key: str) -> None:
    """Raise ConfigError unless `path` is an executable file, such as a virtualenv's bin/python."""
    if not os.path.exists(path):
        raise ConfigError(f"{source}: {key}: file not found: {path!r}")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise ConfigError(f"{source}: {key}: not an executable file: {path!r}")
