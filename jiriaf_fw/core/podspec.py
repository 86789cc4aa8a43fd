"""Pure planning of how a Pod's containers run on a host: names, host paths, `$(VAR)` expansion and argv.

Nothing here touches the file system or starts a process; `jiriaf_fw.services.agent` does that with the
plans built here. Path arithmetic on `pathlib.Path` does no I/O.

User-visible layout, kept from the original Go agent because user scripts depend on it:
`<home>/<namespace>/<pod>/containers/<container>/<mountPath>/` contains mounted volume files and
`<home>/<namespace>/<pod>/containers/<container>/pgid` the container's process group id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jiriaf_fw.core.errors import JiriafError

# Kubernetes object names are DNS subdomains or labels. This pattern also accepts upper case and "_", but
# rejects anything that could act as a path separator or a relative path component.
_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_UID_RE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9]*")
_MAX_NAME = 253

# Names directly under a container directory that the agent writes itself, so no mountPath may take them.
RESERVED_CONTAINER_ENTRIES = frozenset({"pgid"})

POD_UID_MARKER = "JIRIAF_POD_UID"


class PodSpecError(JiriafError):
    """A Pod field cannot be run on this host. The message names the pod, the field and the value."""


class MissingCommandError(PodSpecError):
    """A container has neither `command` nor `args`; there is no image entrypoint to fall back on."""


@dataclass(frozen=True)
class PodRef:
    """The identity of a pod: UID plus namespace and name, all validated as single path components."""

    uid: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def check_name(value: Any, where: str) -> str:
    """Return `value` if it is a non-empty Kubernetes-style name usable as one path component."""
    if not isinstance(value, str) or len(value) > _MAX_NAME or not _NAME_RE.fullmatch(value):
        raise PodSpecError(f"{where} is {value!r}, which is not a valid Kubernetes name")
    return value


def pod_ref(pod: Mapping[str, Any]) -> PodRef:
    """Read and validate `metadata.uid`, `metadata.namespace` (default "default") and `metadata.name`."""
    meta = pod.get("metadata") or {}
    name = check_name(meta.get("name"), "pod metadata.name")
    namespace = check_name(meta.get("namespace") or "default", f"pod {name!r} metadata.namespace")
    uid = meta.get("uid")
    if not isinstance(uid, str) or len(uid) > _MAX_NAME or not _UID_RE.fullmatch(uid):
        raise PodSpecError(f"pod {namespace}/{name} metadata.uid is {uid!r}, which is not a valid UID")
    return PodRef(uid=uid, namespace=namespace, name=name)


def pod_containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Return `spec.containers` with validated, unique names. Init and ephemeral containers are not run."""
    containers = (pod.get("spec") or {}).get("containers") or []
    if not isinstance(containers, list) or not containers:
        raise PodSpecError("pod spec.containers is empty or not a list")
    seen: set[str] = set()
    for index, container in enumerate(containers):
        name = check_name(container.get("name"), f"spec.containers[{index}].name")
        if name in seen:
            raise PodSpecError(f"spec.containers[{index}].name {name!r} is used twice")
        seen.add(name)
    return containers


@dataclass(frozen=True)
class PodPaths:
    """The user-visible directories of one pod under `home`."""

    home: Path
    namespace: str
    name: str

    @property
    def pod_dir(self) -> Path:
        return self.home / self.namespace / self.name

    def container_dir(self, container: str) -> Path:
        return self.pod_dir / "containers" / container

    def pgid_file(self, container: str) -> Path:
        return self.container_dir(container) / "pgid"

    def volume_dir(self, kind_dir: str, volume: str) -> Path:
        return self.pod_dir / kind_dir / volume


def relative_path(value: Any, where: str, *, reserved: frozenset[str] = frozenset()) -> PurePosixPath:
    """Turn a path from a Pod spec into a relative path that cannot leave the directory it is joined to.

    Leading "/" and "." components are dropped, so "/etc/x" becomes "etc/x". A ".." component, a NUL byte,
    a path that names the directory itself, or a first component in `reserved` raise PodSpecError.
    """
    if not isinstance(value, str) or not value or "\0" in value:
        raise PodSpecError(f"{where} is {value!r}, which is not a path")
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise PodSpecError(f"{where} {value!r} contains '..', which would leave its directory")
    if not parts:
        raise PodSpecError(f"{where} {value!r} names the directory itself; use a subdirectory")
    if parts[0] in reserved:
        raise PodSpecError(f"{where} {value!r} collides with the agent's file {parts[0]!r}")
    return PurePosixPath(*parts)


def expand_references(text: str, env: Mapping[str, str]) -> str:
    """Expand Kubernetes `$(VAR)` references in a command or argument, with Kubernetes semantics.

    `$(VAR)` becomes the value of VAR when it is defined and stays as written when it is not. `$$` becomes
    `$`, so `$$(VAR)` yields the literal `$(VAR)`. An unterminated `$(` and any other `$` stay as written.
    Nothing else is interpreted, because no shell runs on the result.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            close = text.find(")", i + 2)
            if close == -1:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            out.append(env.get(name, f"$({name})"))
            i = close + 1
        else:
            out.append("$" + following)
            i += 2
    return "".join(out)


_HOME_VAR_RE = re.compile(r"\$\{HOME\}|\$HOME(?![A-Za-z0-9_])")
_TILDE_RE = re.compile(r"(?:^|(?<=:))~(?=/|:|$)")


def expand_home_references(value: str, home: str) -> str:
    """Replace `$HOME`, `${HOME}` and a leading `~` (also after ":") in an env value with `home`.

    The original agent replaced these in every container env value, and deployed manifests rely on it
    (for example `SERVER_BIN: ~/bin/server`). Unlike it, a `~` inside a word (`a~b`, `~user`) is kept.
    """
    value = _HOME_VAR_RE.sub(lambda _match: home, value)
    return _TILDE_RE.sub(lambda _match: home, value)


def container_environment(
    base_env: Mapping[str, str], container_env: Mapping[str, str], *, home: str, pod_uid: str
) -> dict[str, str]:
    """Build a container's environment: the agent's base env, the container env on top, then the marker.

    `JIRIAF_POD_UID=<uid>` is set last so that no container env can remove it; the agent finds a pod's
    escaped descendants by it.
    """
    env = dict(base_env)
    env.update({key: expand_home_references(value, home) for key, value in container_env.items()})
    env[POD_UID_MARKER] = pod_uid
    return env


@dataclass(frozen=True)
class MountRef:
    """A container-side mount path and the host path it maps to."""

    mount_path: str  # canonical container-side form, "/a/b"
    host_path: str


def rewrite_mount_reference(arg: str, mounts: Sequence[MountRef]) -> str | None:
    """Return `arg` rewritten to its host path if it equals a mount path or starts with `<mountPath>/`.

    The longest matching mount path wins; None means no mount path matched.
    """
    for mount in sorted(mounts, key=lambda m: len(m.mount_path), reverse=True):
        if arg == mount.mount_path or arg.startswith(mount.mount_path + "/"):
            return mount.host_path + arg[len(mount.mount_path) :]
    return None


@dataclass(frozen=True)
class ContainerCommand:
    """The argv a container runs, and the host path of its script if one of its arguments names one."""

    argv: tuple[str, ...]
    script_path: str | None


def _string_list(container: Mapping[str, Any], field: str, where: str) -> list[str]:
    value = container.get(field) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PodSpecError(f"{where}.{field} is {value!r}, which is not a list of strings")
    if any("\0" in item for item in value):
        raise PodSpecError(f"{where}.{field} contains a NUL byte, which no argv can carry")
    return value


def build_command(
    container: Mapping[str, Any],
    env: Mapping[str, str],
    mounts: Sequence[MountRef],
    mounted_files: frozenset[str],
    legacy_script: str | None = None,
) -> ContainerCommand:
    """Build the argv of a container from `command` + `args`, without any shell.

    Each element is expanded with `expand_references` against the container env, then rewritten to a host
    path if it refers to a mount path. The script path is the first element that is a file the agent
    mounted (`mounted_files` contains their host paths). When no element refers to a mount path and
    `legacy_script` is given, it is inserted after the `command` elements, as the original agent did for a
    container whose `image` names one of its volumes.
    Raises MissingCommandError when both `command` and `args` are empty.
    """
    where = f"container {container.get('name')!r}"
    command = _string_list(container, "command", where)
    args = _string_list(container, "args", where)
    if not command and not args:
        raise MissingCommandError(
            f"{where} has neither command nor args; this agent runs no images, so set command"
        )

    any_mount_reference = False
    rewritten: list[str] = []
    for element in command + args:
        expanded = expand_references(element, env)
        host = rewrite_mount_reference(expanded, mounts)
        any_mount_reference = any_mount_reference or host is not None
        rewritten.append(host if host is not None else expanded)

    if legacy_script is not None and command and not any_mount_reference:
        rewritten.insert(len(command), legacy_script)
    script = next((element for element in rewritten if element in mounted_files), None)
    return ContainerCommand(argv=tuple(rewritten), script_path=script)


def working_dir(container: Mapping[str, Any], container_dir: Path, mounts: Sequence[MountRef]) -> Path:
    """Map `workingDir` to a host directory inside the container directory, like a mount path.

    An empty `workingDir` and "/" give the container directory itself. An absolute path is taken from the
    container's root, which is the container directory, so "/data" gives `<container dir>/data`. A relative
    path is joined to the container directory too. "." and ".." are resolved lexically first, and a ".."
    that would leave the container directory raises PodSpecError. When the resolved path equals a mount
    path or lies below one, it is rewritten to that mount's host path.
    """
    value = container.get("workingDir")
    if not value:
        return container_dir
    where = f"container {container.get('name')!r} workingDir"
    if not isinstance(value, str) or "\0" in value:
        raise PodSpecError(f"{where} is {value!r}, which is not a path")
    parts: list[str] = []
    for part in value.split("/"):
        if part == "..":
            if not parts:
                raise PodSpecError(f"{where} {value!r} contains '..', which would leave its directory")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    if not parts:
        return container_dir
    host = rewrite_mount_reference("/" + "/".join(parts), mounts)
    return Path(host) if host is not None else container_dir.joinpath(*parts)
