"""Volume materialisation on disk: every key written, modes, emptyDir sharing, hostPath, rejections."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from jiriaf_fw.services.agent.runtime import PodRuntime, PodStartError

from .helpers import make_pod, terminated, wait_until


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_config_map_and_secret_files(runtime: PodRuntime, home: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    container = {"name": "main", "command": ["true"], "volumeMounts": [
        {"name": "cfg", "mountPath": "/etc/cfg"},
        {"name": "tls", "mountPath": "/tls", "readOnly": True},
        {"name": "picked", "mountPath": "/picked"},
    ]}
    volumes = [
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "tls", "secret": {"secretName": "tls"}},
        {"name": "picked", "configMap": {"name": "cfg", "defaultMode": 0o755,
                                         "items": [{"key": "monkey.sh", "path": "bin/run.sh"}]}},
    ]
    config = {"monkey.sh": b"echo m\n", "keys.txt": b"k\n", "ca.crt": b"c\n", "app.pem": b"p\n"}
    sources = {"cfg": config, "picked": config, "tls": {"tls.key": b"secret\n", "tls.crt": b"cert\n"}}

    runtime.start(make_pod(uid, [container], volumes), sources, {})

    base = home / "default" / "demo" / "containers" / "main"
    for name, content in config.items():
        assert (base / "etc" / "cfg" / name).read_bytes() == content
        assert mode_of(base / "etc" / "cfg" / name) == 0o644
    assert (base / "tls" / "tls.key").read_bytes() == b"secret\n"
    assert mode_of(base / "tls" / "tls.key") == 0o600
    assert sorted(os.listdir(base / "picked")) == ["bin"]
    assert (base / "picked" / "bin" / "run.sh").read_bytes() == b"echo m\n"
    assert mode_of(base / "picked" / "bin" / "run.sh") == 0o755
    # The pod-level copies keep the original agent's layout.
    assert (home / "default" / "demo" / "configmaps" / "cfg" / "keys.txt").is_file()
    assert (home / "default" / "demo" / "secrets" / "tls" / "tls.crt").is_file()
    wait_until(terminated(runtime, uid), description="true")


def test_empty_dir_shared_between_containers(runtime: PodRuntime, home: Path,
                                             new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    writer = {"name": "writer", "command": ["bash", "-c", 'echo hi > "$1"', "bash",
                                            "/work/out.txt"],
              "volumeMounts": [{"name": "work", "mountPath": "/work"}]}
    reader = {"name": "reader", "command": ["bash", "-c", 'until [ -s "$1" ]; do sleep 0.05; done; cat "$1"',
                                            "bash", "/data/out.txt"],
              "volumeMounts": [{"name": "work", "mountPath": "/data"}]}
    runtime.start(make_pod(uid, [writer, reader], [{"name": "work", "emptyDir": {}}]), {}, {})

    states = wait_until(terminated(runtime, uid), description="both containers")
    assert [state.exit_code for state in states] == [0, 0]
    assert runtime.log_path(uid, "reader").read_text() == "hi\n"
    shared = home / "default" / "demo" / "emptydirs" / "work"
    assert (home / "default" / "demo" / "containers" / "writer" / "work").resolve() == shared.resolve()
    assert (home / "default" / "demo" / "containers" / "reader" / "data").resolve() == shared.resolve()


def test_host_path_linked(runtime: PodRuntime, home: Path, tmp_path: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    data = tmp_path / "site-data"
    container = {"name": "main", "command": ["cat", "/in/input.txt"],
                 "volumeMounts": [{"name": "in", "mountPath": "/in"}]}
    volumes = [{"name": "in", "hostPath": {"path": str(data), "type": "DirectoryOrCreate"}}]
    data.mkdir()
    (data / "input.txt").write_text("from the host\n")

    runtime.start(make_pod(uid, [container], volumes), {}, {})

    wait_until(terminated(runtime, uid), description="cat")
    assert runtime.log_path(uid, "main").read_text() == "from the host\n"


def test_sub_path_file_mount(runtime: PodRuntime, home: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    container = {"name": "main", "command": ["cat", "/etc/app.conf"],
                 "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app.conf"}]}
    runtime.start(make_pod(uid, [container], [{"name": "cfg", "configMap": {"name": "cfg"}}]),
                  {"cfg": {"app.conf": b"x=1\n", "other": b""}}, {})
    wait_until(terminated(runtime, uid), description="cat")
    assert runtime.log_path(uid, "main").read_text() == "x=1\n"


def test_unsupported_volume_type(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    pod = make_pod(uid, [{"name": "main", "command": ["true"]}],
                   [{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}])
    with pytest.raises(PodStartError, match="persistentVolumeClaim"):
        runtime.start(pod, {}, {})
    assert runtime.known_pod_uids() == set()


def test_missing_config_map_then_retry(runtime: PodRuntime, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    container = {"name": "main", "command": ["cat", "/cfg/a"], "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}]}
    pod = make_pod(uid, [container], [{"name": "cfg", "configMap": {"name": "later"}}])
    with pytest.raises(PodStartError, match="configMap 'later' was not found"):
        runtime.start(pod, {}, {})

    runtime.start(pod, {"cfg": {"a": b"now\n"}}, {})

    wait_until(terminated(runtime, uid), description="cat")
    assert runtime.log_path(uid, "main").read_text() == "now\n"


@pytest.mark.parametrize("mount_path", ["/../../escape", "/a/../../b", "/"])
def test_escaping_mount_path_rejected(runtime: PodRuntime, home: Path, mount_path: str,
                                      new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    container = {"name": "main", "command": ["true"], "volumeMounts": [{"name": "v", "mountPath": mount_path}]}
    with pytest.raises(PodStartError, match="mountPath"):
        runtime.start(make_pod(uid, [container], [{"name": "v", "emptyDir": {}}]), {}, {})
    assert not (home / "escape").exists()


def test_symlink_escape_rejected(runtime: PodRuntime, tmp_path: Path, new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    outside = tmp_path / "outside"
    outside.mkdir()
    container = {"name": "main", "command": ["true"], "volumeMounts": [
        {"name": "host", "mountPath": "/host"},
        {"name": "cfg", "mountPath": "/host/cfg"},
    ]}
    volumes = [{"name": "host", "hostPath": {"path": str(outside)}}, {"name": "cfg", "configMap": {"name": "c"}}]
    with pytest.raises(PodStartError, match="symlink"):
        runtime.start(make_pod(uid, [container], volumes), {"cfg": {"x": b"1"}}, {})
    assert list(outside.iterdir()) == []


def test_projected_without_content_mounted_empty(runtime: PodRuntime, home: Path,
                                                 new_uid: Callable[[], str]) -> None:
    uid = new_uid()
    container = {"name": "main", "command": ["true"], "volumeMounts": [
        {"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}
    volumes = [{"name": "kube-api-access-x", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]
    runtime.start(make_pod(uid, [container], volumes), {}, {})
    mount = home / "default" / "demo" / "containers" / "main" / "var/run/secrets/kubernetes.io/serviceaccount"
    assert mount.is_dir()
    assert list(mount.iterdir()) == []
    wait_until(terminated(runtime, uid), description="true")
