"""Materialise a pod's volumes on disk and mount them into its container directories.

Copied volumes (configMap, secret, projected, downwardAPI) are written once under
`<pod dir>/<kind dir>/<volume>/` and copied into each mount at `<container dir>/<mountPath>/`, as the
original agent did. emptyDir is one directory `<pod dir>/emptydirs/<volume>/` that every mounting container
reaches through a symlink at its mountPath; hostPath is a symlink to the host path. Every file is written
through a temporary file and a rename, with the volume's mode.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from jiriaf_fw.adapters.container_wrapper import write_atomic
from jiriaf_fw.core.errors import JiriafError
from jiriaf_fw.core.podspec import MountRef, PodPaths
from jiriaf_fw.core.podvolumes import (
    COPIED_KINDS,
    KIND_DIRS,
    MountSpec,
    VolumeFile,
    VolumeSpec,
    legacy_script_name,
    project_volume,
    select_sub_path,
)

log = logging.getLogger(__name__)

VolumeSources = Mapping[str, Mapping[str, bytes]]
DIR_MODE = 0o750
SECRET_DIR_MODE = 0o700


class PodStartError(JiriafError):
    """A pod cannot start on this node; the message is fit for the pod's status."""


@dataclass(frozen=True)
class MaterialisedVolume:
    spec: VolumeSpec
    directory: Path  # where the volume's content lives on the host
    files: tuple[VolumeFile, ...]


@dataclass(frozen=True)
class ContainerMounts:
    """The result of mounting a container's volumes."""

    refs: tuple[MountRef, ...]
    files: frozenset[str]  # host paths of every file copied into the container's mounts
    legacy_script: str | None  # host path of the script picked by the original agent's `image` rule


def _safe_mkdir(path: Path, mode: int, root: Path) -> None:
    """Create `path` and its parents, after checking that no symlink on the way leads out of `root`."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.resolve().is_relative_to(root.resolve()):
        raise PodStartError(f"refusing to create {path}: {existing} leads out of {root} through a symlink")
    path.mkdir(parents=True, exist_ok=True, mode=mode)


def _write_files(directory: Path, files: tuple[VolumeFile, ...], dir_mode: int, root: Path) -> None:
    """Write `files` under `directory`; a file with an empty path is written at `directory` itself."""
    for file in files:
        dest = directory if file.path == PurePosixPath() else directory / file.path
        _safe_mkdir(dest.parent, dir_mode, root)
        if dest.is_symlink() or dest.is_dir():
            raise PodStartError(f"cannot write volume file {dest}: a directory or symlink is in the way")
        write_atomic(dest, file.content, file.mode)


def _host_path(spec: VolumeSpec) -> Path:
    assert spec.host_path is not None
    path = Path(spec.host_path)
    if spec.host_path_type == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True, mode=0o755)
    elif spec.host_path_type == "FileOrCreate" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o644)
    checks = {"Directory": path.is_dir, "File": path.is_file, "Socket": path.is_socket,
              "CharDevice": path.is_char_device, "BlockDevice": path.is_block_device}
    check = checks.get(spec.host_path_type)
    if check is not None and not check():
        raise PodStartError(f"volume {spec.name!r}: hostPath {spec.host_path!r} is not a {spec.host_path_type}")
    return path


def _materialise_one(paths: PodPaths, spec: VolumeSpec, data: Mapping[str, bytes] | None) -> MaterialisedVolume:
    if spec.kind == "hostPath":
        return MaterialisedVolume(spec, _host_path(spec), ())
    directory = paths.volume_dir(KIND_DIRS[spec.kind], spec.name)
    if spec.kind == "emptyDir":
        directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        return MaterialisedVolume(spec, directory, ())

    files = project_volume(spec, data)
    if data is None and spec.kind in ("projected", "downwardAPI"):
        # The controller supplies these; a service-account volume without content is mounted empty,
        # because failing every pod that Kubernetes auto-injects one into would be worse.
        log.warning("volume %r (%s) of pod %s/%s has no content from the controller; mounting it empty",
                    spec.name, spec.kind, paths.namespace, paths.name)
    dir_mode = SECRET_DIR_MODE if spec.kind == "secret" else DIR_MODE
    if directory.exists():
        shutil.rmtree(directory)  # content of an earlier pod with the same name
    directory.mkdir(parents=True, mode=dir_mode)
    _write_files(directory, files, dir_mode, paths.pod_dir)
    return MaterialisedVolume(spec, directory, files)


def materialise_volumes(
    paths: PodPaths, specs: Mapping[str, VolumeSpec], sources: VolumeSources
) -> dict[str, MaterialisedVolume]:
    """Write or create every volume of a pod; raises PodStartError naming the volume on failure."""
    paths.pod_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    materialised = {}
    for name, spec in specs.items():
        try:
            materialised[name] = _materialise_one(paths, spec, sources.get(name))
        except OSError as exc:
            raise PodStartError(f"volume {name!r} ({spec.kind}) could not be written: {exc}") from exc
    return materialised


def _link(target: Path, source: Path, root: Path) -> None:
    """Make `target` a symlink to `source`, replacing an old symlink or an empty directory."""
    _safe_mkdir(target.parent, DIR_MODE, root)
    if target.is_symlink():
        target.unlink()
    elif target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    elif target.exists():
        raise PodStartError(f"cannot mount at {target}: a file or non-empty directory is already there")
    os.symlink(source, target)


def _mount_one(container_dir: Path, mount: MountSpec, volume: MaterialisedVolume, pod_dir: Path) -> list[str]:
    target = container_dir / mount.rel
    if volume.spec.kind in COPIED_KINDS:
        files = select_sub_path(volume.files, mount.sub_path)
        if target.is_symlink():
            target.unlink()
        if mount.sub_path is None or files[0].path != PurePosixPath():
            _safe_mkdir(target, DIR_MODE, pod_dir)
        dir_mode = SECRET_DIR_MODE if volume.spec.kind == "secret" else DIR_MODE
        _write_files(target, files, dir_mode, pod_dir)
        return [str(target if file.path == PurePosixPath() else target / file.path) for file in files]
    source = volume.directory / mount.sub_path if mount.sub_path else volume.directory
    if volume.spec.kind == "emptyDir":
        source.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _link(target, source, pod_dir)
    return []


def mount_container_volumes(
    paths: PodPaths,
    container: str,
    image: str | None,
    mounts: tuple[MountSpec, ...],
    volumes: Mapping[str, MaterialisedVolume],
) -> ContainerMounts:
    """Mount each volume at `<container dir>/<mountPath>`; raises PodStartError on failure."""
    container_dir = paths.container_dir(container)
    container_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    refs, copied, legacy = [], set(), None
    for mount in mounts:
        volume = volumes[mount.volume]
        try:
            copied.update(_mount_one(container_dir, mount, volume, paths.pod_dir))
        except OSError as exc:
            raise PodStartError(
                f"container {container!r}: mounting volume {mount.volume!r} at {mount.mount_path!r} failed: {exc}"
            ) from exc
        refs.append(MountRef(mount.mount_path, str(container_dir / mount.rel)))
        if legacy is None and image == mount.volume and mount.sub_path is None:
            name = legacy_script_name(volume.files)
            legacy = str(container_dir / mount.rel / name) if name is not None else None
    return ContainerMounts(tuple(refs), frozenset(copied), legacy)
