"""Writing the double's kubeconfig file without destroying a kubeconfig that someone else wrote."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .errors import ApiServerDoubleError

logger = logging.getLogger(__name__)

KUBECONFIG_NAME = "jiriaf-apiserver-double"
# A kubeconfig of the double is a few hundred bytes, so a larger file was written by someone else.
_MAX_OWN_KUBECONFIG_BYTES = 64 * 1024


class KubeconfigExistsError(ApiServerDoubleError):
    """An existing kubeconfig file that the double did not write, left unchanged."""

    exit_code = 2

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"kubeconfig {str(path)!r} already exists and {reason}, so it was not overwritten")
        self.path = path
        self.reason = reason


def _foreign_reason(path: Path) -> str | None:
    """Return why the existing file at `path` is not the double's own kubeconfig, or None if it is."""
    try:
        if not path.is_file() or path.stat().st_size > _MAX_OWN_KUBECONFIG_BYTES:
            return "is not a kubeconfig written by the API-server double"
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "cannot be read as a kubeconfig written by the API-server double"
    if not isinstance(document, dict):
        return "is not a kubeconfig written by the API-server double"
    context = document.get("current-context")
    if context != KUBECONFIG_NAME:
        return f"has current-context {context!r}, not {KUBECONFIG_NAME!r}"
    clusters = document.get("clusters")
    if not isinstance(clusters, list) or [_entry_name(item) for item in clusters] != [KUBECONFIG_NAME]:
        return f"has clusters other than {KUBECONFIG_NAME!r}"
    return None


def _entry_name(item: Any) -> Any:
    return item.get("name") if isinstance(item, dict) else None


def check_kubeconfig_replaceable(path: str | os.PathLike[str]) -> None:
    """Raise KubeconfigExistsError if `path` exists and is not a kubeconfig that the double wrote.

    The double's own file has current-context and exactly one cluster named `jiriaf-apiserver-double`.
    A symlink counts as existing even when its target does not.
    """
    target = Path(path)
    if not os.path.lexists(target):
        return
    reason = _foreign_reason(target)
    if reason is not None:
        raise KubeconfigExistsError(target, reason)


def write_kubeconfig_file(document: dict[str, Any], path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Write `document` to `path` atomically with mode 0600 and return the path.

    Without `overwrite`, an existing file is replaced only if the double wrote it, and any other file
    raises KubeconfigExistsError. With `overwrite` any file is replaced.
    """
    target = Path(path)
    if not overwrite:
        check_kubeconfig_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as stream:
            yaml.safe_dump(document, stream, sort_keys=False)
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    logger.debug("wrote kubeconfig %s", target)
    return target
