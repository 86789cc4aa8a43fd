"""Launchpad settings (an embedded store file or a MongoDB launchpad file) and a summary safe to print."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from jiriaf_fw.adapters.launchpad.errors import LaunchpadConfigError

logger = logging.getLogger(__name__)

ENV_LAUNCHPAD_FILE = "JIRIAF_FW_LAUNCHPAD"
ENV_HOME = "JIRIAF_FW_HOME"
STORE_FILENAME = "launchpad.json"
DEFAULT_LOCK_TIMEOUT_S = 30.0

# The keys FireWorks 2.1.4 `LaunchPad.from_dict` reads; any other key would be silently ignored by it.
LAUNCHPAD_FILE_KEYS = frozenset({
    "host", "port", "name", "username", "password", "logdir", "strm_lvl", "user_indices",
    "wf_user_indices", "authsource", "uri_mode", "mongoclient_kwargs",
})
_SECRET_KEY = re.compile(r"pass|secret|token|authsource|credential|key", re.IGNORECASE)
_URI_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
REDACTED = "<redacted>"


@dataclass(frozen=True)
class LaunchpadSettings:
    """The launchpad to open: an embedded store file, or a FireWorks launchpad file naming a MongoDB server.

    Exactly one of `store_path` and `launchpad_file` is set.
    """

    store_path: Path | None = None
    """Embedded store file (`launchpad.json`); its lock file is `<store_path>.lock` beside it."""
    launchpad_file: Path | None = None
    """FireWorks launchpad YAML (host, port, name, username, password, ...) of a MongoDB server."""
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
    """Seconds to wait for another process to release the embedded store's lock."""

    def __post_init__(self) -> None:
        if (self.store_path is None) == (self.launchpad_file is None):
            raise ValueError("LaunchpadSettings needs exactly one of store_path and launchpad_file")
        if not self.lock_timeout_s > 0:
            raise ValueError(f"lock_timeout_s must be > 0, got {self.lock_timeout_s!r}")

    @classmethod
    def embedded(cls, store_path: Path | str, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> LaunchpadSettings:
        """Settings for the embedded store file at `store_path` (made absolute)."""
        return cls(store_path=Path(store_path).expanduser().absolute(), lock_timeout_s=lock_timeout_s)

    @classmethod
    def mongodb(cls, launchpad_file: Path | str) -> LaunchpadSettings:
        """Settings for the MongoDB server described by the FireWorks launchpad file `launchpad_file`."""
        return cls(launchpad_file=Path(launchpad_file).expanduser().absolute())

    @property
    def kind(self) -> Literal["embedded", "mongodb"]:
        """`embedded` for the store file, `mongodb` for a launchpad file."""
        return "embedded" if self.store_path is not None else "mongodb"

    @property
    def location(self) -> str:
        """The store path or the launchpad file path, for messages."""
        return str(self.store_path if self.store_path is not None else self.launchpad_file)


def default_home(env: Mapping[str, str]) -> Path:
    """Return `$JIRIAF_FW_HOME`, else `$XDG_DATA_HOME/jiriaf-fw`, else `~/.local/share/jiriaf-fw`.

    A relative `XDG_DATA_HOME` is ignored, as the XDG Base Directory specification requires.
    """
    home = env.get(ENV_HOME, "")
    if home:
        return Path(home).expanduser().absolute()
    xdg_data = env.get("XDG_DATA_HOME", "")
    if xdg_data and Path(xdg_data).is_absolute():
        return Path(xdg_data) / "jiriaf-fw"
    user_home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return user_home / ".local" / "share" / "jiriaf-fw"


def resolve_launchpad_settings(
    launchpad_file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> LaunchpadSettings:
    """Choose the launchpad: the `--launchpad` file, else `$JIRIAF_FW_LAUNCHPAD`, else the embedded store.

    The embedded store is `<default_home(env)>/launchpad.json`. `env` defaults to `os.environ`.
    """
    environ = os.environ if env is None else env
    if launchpad_file:
        return LaunchpadSettings.mongodb(launchpad_file)
    from_env = environ.get(ENV_LAUNCHPAD_FILE, "")
    if from_env:
        return LaunchpadSettings.mongodb(from_env)
    return LaunchpadSettings.embedded(default_home(environ) / STORE_FILENAME, lock_timeout_s)


def read_launchpad_file(path: Path) -> dict[str, Any]:
    """Read and check a FireWorks launchpad YAML file; return its mapping for `LaunchPad.from_dict`.

    Raises LaunchpadConfigError naming the file when it is missing, is not YAML, is not a mapping, has no
    `host`, or has a key FireWorks does not read (a misspelt `password` would otherwise be ignored).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LaunchpadConfigError(
            f"cannot read launchpad file {path}: {exc.strerror or exc}; check --launchpad or ${ENV_LAUNCHPAD_FILE}"
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LaunchpadConfigError(f"launchpad file {path} is not valid YAML: {first_line}") from exc
    if not isinstance(data, dict):
        raise LaunchpadConfigError(
            f"launchpad file {path} must be a mapping with at least 'host', got {type(data).__name__}"
        )
    unknown = sorted(str(key) for key in data if key not in LAUNCHPAD_FILE_KEYS)
    if unknown:
        raise LaunchpadConfigError(
            f"launchpad file {path} has unknown keys {unknown}; FireWorks reads only {sorted(LAUNCHPAD_FILE_KEYS)}"
        )
    if not data.get("host"):
        raise LaunchpadConfigError(f"launchpad file {path} has no 'host'; set the MongoDB host name or URI")
    return data


def redact_secrets(value: Any) -> Any:
    """Return a copy of `value` with passwords and other credentials replaced by `<redacted>`.

    Mapping keys that look like credentials (`password`, `authsource`, `*secret*`, `*token*`, `*key*`) lose
    their values, and a password inside a `scheme://user:password@host` URI is replaced.
    """
    if isinstance(value, Mapping):
        return {
            key: (REDACTED if value[key] is not None and _SECRET_KEY.search(str(key)) else redact_secrets(value[key]))
            for key in value
        }
    if isinstance(value, list | tuple):
        return [redact_secrets(item) for item in value]
    if isinstance(value, str):
        return _URI_PASSWORD.sub(lambda match: f"{match.group('head')}{REDACTED}@", value)
    return value


def describe_launchpad(settings: LaunchpadSettings) -> dict[str, Any]:
    """Return a summary of the launchpad that is safe to print or log (credentials redacted)."""
    if settings.store_path is not None:
        return {"kind": "embedded", "store": str(settings.store_path)}
    assert settings.launchpad_file is not None
    summary: dict[str, Any] = {"kind": "mongodb", "file": str(settings.launchpad_file)}
    summary.update(redact_secrets(read_launchpad_file(settings.launchpad_file)))
    return summary
