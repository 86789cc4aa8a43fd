"""Pure planning of a Pod's volumes and volume mounts: which files each volume contains and where mounts go.

Supported volume types:

- `configMap`, `secret`: every key is written (or only `items`, at their paths), with `defaultMode` or
  the item's `mode`. The content comes from the controller, keyed by volume name.
- `projected`, `downwardAPI`: the controller supplies the final files (path -> content) for the volume.
- `emptyDir`: one directory per pod, shared by every container that mounts it.
- `hostPath`: the host path itself, mounted by symlink.

Any other type raises PodSpecError naming it. No file name is skipped: a key such as `tls.key` or
`monkey.sh` is written like any other, unlike in the original Go agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from jiriaf_fw.core.podspec import RESERVED_CONTAINER_ENTRIES, PodSpecError, check_name, relative_path

COPIED_KINDS = ("configMap", "secret", "projected", "downwardAPI")
LINKED_KINDS = ("emptyDir", "hostPath")
# Host directory (under the pod directory) of each kind that is materialised once per pod.
KIND_DIRS = {
    "configMap": "configmaps",
    "secret": "secrets",
    "projected": "projected",
    "downwardAPI": "downwardapi",
    "emptyDir": "emptydirs",
}
# Kubernetes defaults to 0644 everywhere. Secrets get 0600 here, because $HOME is often shared or
# world-listable on HPC sites, and the container runs as the agent's own user anyway.
DEFAULT_MODES = {"configMap": 0o644, "secret": 0o600, "projected": 0o644, "downwardAPI": 0o644}
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice")


@dataclass(frozen=True)
class KeyToPath:
    key: str
    path: PurePosixPath
    mode: int | None


@dataclass(frozen=True)
class VolumeSpec:
    """One entry of `spec.volumes`, reduced to what the agent uses."""

    name: str
    kind: str
    source_name: str | None = None  # ConfigMap or Secret name
    items: tuple[KeyToPath, ...] = ()
    default_mode: int = 0o644
    optional: bool = False
    host_path: str | None = None
    host_path_type: str = ""


@dataclass(frozen=True)
class VolumeFile:
    """A file of a copied volume: path relative to the volume root, content, permission bits."""

    path: PurePosixPath
    content: bytes
    mode: int


@dataclass(frozen=True)
class MountSpec:
    """One `volumeMounts` entry: which volume, where it goes under the container directory."""

    volume: str
    mount_path: str  # canonical container-side form, "/a/b"
    rel: PurePosixPath  # the same path, relative to the container directory
    sub_path: PurePosixPath | None
    read_only: bool


def _mode(value: Any, where: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise PodSpecError(f"{where} is {value!r}; use permission bits between 0 and 0777 (511)")
    return value


def _items(raw: Any, where: str) -> tuple[KeyToPath, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PodSpecError(f"{where}.items is {raw!r}, which is not a list")
    items = []
    for index, item in enumerate(raw):
        key = item.get("key")
        if not isinstance(key, str) or not key:
            raise PodSpecError(f"{where}.items[{index}].key is {key!r}, which is not a key name")
        path = relative_path(item.get("path"), f"{where}.items[{index}].path")
        mode = item.get("mode")
        items.append(KeyToPath(key, path, None if mode is None else _mode(mode, f"{where}.items[{index}].mode", 0)))
    return tuple(items)


def parse_volume(raw: Mapping[str, Any], index: int) -> VolumeSpec:
    """Parse one `spec.volumes` entry; raises PodSpecError for an unsupported or invalid volume."""
    name = check_name(raw.get("name"), f"spec.volumes[{index}].name")
    where = f"volume {name!r}"
    kinds = [key for key in raw if key != "name"]
    if len(kinds) != 1:
        raise PodSpecError(f"{where} must have exactly one volume type, found {kinds!r}")
    kind = kinds[0]
    source = raw[kind] or {}
    if kind in ("configMap", "secret"):
        source_name = source.get("name") if kind == "configMap" else source.get("secretName")
        check_name(source_name, f"{where}.{kind} name")
        return VolumeSpec(
            name=name, kind=kind, source_name=source_name, items=_items(source.get("items"), f"{where}.{kind}"),
            default_mode=_mode(source.get("defaultMode"), f"{where}.{kind}.defaultMode", DEFAULT_MODES[kind]),
            optional=bool(source.get("optional", False)),
        )
    if kind in ("projected", "downwardAPI"):
        mode = _mode(source.get("defaultMode"), f"{where}.{kind}.defaultMode", DEFAULT_MODES[kind])
        return VolumeSpec(name=name, kind=kind, default_mode=mode)
    if kind == "emptyDir":
        return VolumeSpec(name=name, kind=kind)
    if kind == "hostPath":
        return _host_path_volume(name, source, where)
    raise PodSpecError(
        f"{where} has type {kind!r}, which this agent does not support "
        "(supported: configMap, secret, projected, downwardAPI, emptyDir, hostPath)"
    )


def _host_path_volume(name: str, source: Mapping[str, Any], where: str) -> VolumeSpec:
    path = source.get("path")
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise PodSpecError(f"{where}.hostPath.path is {path!r}; it must be an absolute host path")
    host_type = source.get("type") or ""
    if host_type not in HOST_PATH_TYPES:
        raise PodSpecError(f"{where}.hostPath.type is {host_type!r}; expected one of {HOST_PATH_TYPES!r}")
    return VolumeSpec(name=name, kind="hostPath", host_path=path, host_path_type=host_type)


def parse_volumes(pod: Mapping[str, Any]) -> dict[str, VolumeSpec]:
    """Parse `spec.volumes` into specs keyed by volume name; names must be unique."""
    raw_volumes = (pod.get("spec") or {}).get("volumes") or []
    volumes: dict[str, VolumeSpec] = {}
    for index, raw in enumerate(raw_volumes):
        volume = parse_volume(raw, index)
        if volume.name in volumes:
            raise PodSpecError(f"spec.volumes[{index}].name {volume.name!r} is used twice")
        volumes[volume.name] = volume
    return volumes


def parse_mounts(container: Mapping[str, Any], volumes: Mapping[str, VolumeSpec]) -> tuple[MountSpec, ...]:
    """Parse a container's `volumeMounts`, outermost mount path first.

    Raises PodSpecError for an unknown volume, an unsafe or duplicate mountPath, or an unsafe subPath.
    """
    where = f"container {container.get('name')!r}"
    mounts: dict[PurePosixPath, MountSpec] = {}
    for index, raw in enumerate(container.get("volumeMounts") or []):
        volume = raw.get("name")
        if volume not in volumes:
            raise PodSpecError(f"{where}.volumeMounts[{index}] names volume {volume!r}, which the pod lacks")
        rel = relative_path(raw.get("mountPath"), f"{where}.volumeMounts[{index}].mountPath",
                            reserved=RESERVED_CONTAINER_ENTRIES)
        if rel in mounts:
            raise PodSpecError(f"{where} mounts two volumes at {raw.get('mountPath')!r}")
        sub_path = raw.get("subPath") or None
        mounts[rel] = MountSpec(
            volume=volume,
            mount_path="/" + rel.as_posix(),
            rel=rel,
            sub_path=relative_path(sub_path, f"{where}.volumeMounts[{index}].subPath") if sub_path else None,
            read_only=bool(raw.get("readOnly", False)),
        )
    return tuple(sorted(mounts.values(), key=lambda mount: len(mount.rel.parts)))


def project_volume(volume: VolumeSpec, data: Mapping[str, bytes] | None) -> tuple[VolumeFile, ...]:
    """Return the files of a copied volume from the content the controller supplied.

    For configMap and secret, `data` maps keys to content and `items` select and rename keys. For projected
    and downwardAPI, `data` maps final relative paths to content. Missing content raises PodSpecError unless
    the volume or the source is optional; a missing projected or downwardAPI volume gives no files.
    """
    where = f"volume {volume.name!r}"
    if data is None:
        if volume.kind in ("configMap", "secret") and not volume.optional:
            raise PodSpecError(
                f"{where}: {volume.kind} {volume.source_name!r} was not found; create it or mark it optional"
            )
        return ()
    if volume.kind not in ("configMap", "secret"):
        return tuple(
            VolumeFile(relative_path(path, f"{where} file"), content, volume.default_mode)
            for path, content in sorted(data.items())
        )
    if not volume.items:
        return tuple(
            VolumeFile(relative_path(key, f"{where} key"), content, volume.default_mode)
            for key, content in sorted(data.items())
        )
    files = []
    for item in volume.items:
        if item.key not in data:
            if volume.optional:
                continue
            raise PodSpecError(f"{where}: {volume.kind} {volume.source_name!r} has no key {item.key!r}")
        mode = item.mode if item.mode is not None else volume.default_mode
        files.append(VolumeFile(item.path, data[item.key], mode))
    return tuple(files)


def select_sub_path(files: tuple[VolumeFile, ...], sub_path: PurePosixPath | None) -> tuple[VolumeFile, ...]:
    """Return the files under `sub_path`, re-rooted there; a file equal to `sub_path` gets an empty path.

    Raises PodSpecError if nothing in the volume lies at or under `sub_path`.
    """
    if sub_path is None:
        return files
    selected = []
    for file in files:
        if file.path == sub_path:
            selected.append(VolumeFile(PurePosixPath(), file.content, file.mode))
        elif sub_path in file.path.parents:
            selected.append(VolumeFile(file.path.relative_to(sub_path), file.content, file.mode))
    if not selected:
        raise PodSpecError(f"subPath {sub_path.as_posix()!r} matches no file of the volume")
    return tuple(selected)


def legacy_script_name(files: tuple[VolumeFile, ...]) -> PurePosixPath | None:
    """Pick the script the original agent ran for `image: <volume name>`: the alphabetically last top-level
    file whose name lacks "crt", "key" and "pem" (that agent never copied such files, so never chose them)."""
    names = sorted(
        file.path for file in files
        if len(file.path.parts) == 1 and not any(word in file.path.name for word in ("crt", "key", "pem"))
    )
    return names[-1] if names else None
