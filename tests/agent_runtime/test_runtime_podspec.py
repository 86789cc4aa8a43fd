"""Pure pod planning: names, paths, `$(VAR)` expansion, argv building and volume projection."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from jiriaf_fw.adapters.container_wrapper import exit_status
from jiriaf_fw.adapters.procfs import parse_stat
from jiriaf_fw.core.podspec import (
    MissingCommandError,
    MountRef,
    PodPaths,
    PodSpecError,
    build_command,
    container_environment,
    expand_home_references,
    expand_references,
    pod_ref,
    relative_path,
    working_dir,
)
from jiriaf_fw.core.podvolumes import (
    VolumeFile,
    legacy_script_name,
    parse_mounts,
    parse_volume,
    parse_volumes,
    project_volume,
    select_sub_path,
)
from jiriaf_fw.services.agent.states import describe_exit

ENV = {"N": "5", "DIR": "/stress", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(N)", "5"),
        ("x$(N)y", "x5y"),
        ("$$(N)", "$(N)"),
        ("$$$(N)", "$5"),
        ("$(MISSING)", "$(MISSING)"),
        ("$(EMPTY)", ""),
        ("$(touch x)", "$(touch x)"),
        ("$(N", "$(N"),
        ("$N", "$N"),
        ("${N}", "${N}"),
        ("50$", "50$"),
        ("$", "$"),
        ("a $$ b", "a $ b"),
        ("$(DIR)/stress.sh", "/stress/stress.sh"),
    ],
)
def test_expand_references_kubernetes_rules(text: str, expected: str) -> None:
    assert expand_references(text, ENV) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("~", "/h"),
        ("~/bin/server", "/h/bin/server"),
        ("$HOME/x", "/h/x"),
        ("${HOME}/x", "/h/x"),
        ("~/a:~/b", "/h/a:/h/b"),
        ("$HOMEDIR", "$HOMEDIR"),
        ("a~b", "a~b"),
        ("~user/x", "~user/x"),
        ("plain", "plain"),
    ],
)
def test_expand_home_references(value: str, expected: str) -> None:
    assert expand_home_references(value, "/h") == expected


def test_container_environment_marker_wins() -> None:
    env = container_environment({"PATH": "/bin", "A": "base"}, {"A": "pod", "JIRIAF_POD_UID": "forged"},
                                home="/h", pod_uid="uid-1")
    assert env["PATH"] == "/bin"
    assert env["A"] == "pod"
    assert env["JIRIAF_POD_UID"] == "uid-1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/stress", "stress"), ("/etc/x/", "etc/x"), ("data", "data"), ("//a/./b", "a/b")],
)
def test_relative_path_accepts(value: str, expected: str) -> None:
    assert relative_path(value, "mountPath") == PurePosixPath(expected)


@pytest.mark.parametrize("value", ["/../x", "a/../../b", "..", "/", "", "./", "a\0b", None, 5])
def test_relative_path_rejects(value: object) -> None:
    with pytest.raises(PodSpecError, match="mountPath"):
        relative_path(value, "mountPath")


def test_relative_path_rejects_reserved_name() -> None:
    with pytest.raises(PodSpecError, match="pgid"):
        relative_path("/pgid", "mountPath", reserved=frozenset({"pgid"}))


def test_pod_ref_validation() -> None:
    ref = pod_ref({"metadata": {"name": "p", "uid": "1234-abcd"}})
    assert (ref.uid, ref.namespace, ref.name) == ("1234-abcd", "default", "p")
    for meta in ({"name": "../x", "uid": "u"}, {"name": "p", "uid": "../u"}, {"name": "p"},
                 {"name": "p", "namespace": "a/b", "uid": "u"}):
        with pytest.raises(PodSpecError):
            pod_ref({"metadata": meta})


def test_pod_paths_layout() -> None:
    paths = PodPaths(Path("/h"), "ns", "pod")
    assert paths.container_dir("c") == Path("/h/ns/pod/containers/c")
    assert paths.pgid_file("c") == Path("/h/ns/pod/containers/c/pgid")


STRESS_MOUNT = MountRef("/stress", "/h/ns/p/containers/c/stress")
STRESS_SCRIPT = "/h/ns/p/containers/c/stress/stress.sh"


def test_build_command_rewrites_mount_paths() -> None:
    container = {"name": "c", "command": ["bash", "/stress/stress.sh"], "args": ["10", "1"]}
    command = build_command(container, {}, [STRESS_MOUNT], frozenset({STRESS_SCRIPT}))
    assert command.argv == ("bash", STRESS_SCRIPT, "10", "1")
    assert command.script_path == STRESS_SCRIPT


def test_build_command_rewrite_boundaries() -> None:
    container = {"name": "c", "command": ["ls"], "args": ["/stress", "/stressed", "/stress/", "x/stress"]}
    command = build_command(container, {}, [STRESS_MOUNT], frozenset())
    assert command.argv == ("ls", STRESS_MOUNT.host_path, "/stressed", STRESS_MOUNT.host_path + "/", "x/stress")
    assert command.script_path is None


def test_build_command_longest_mount_wins() -> None:
    mounts = [MountRef("/a", "/h/a"), MountRef("/a/b", "/h/other")]
    command = build_command({"name": "c", "command": ["cat", "/a/b/f", "/a/f"]}, {}, mounts, frozenset())
    assert command.argv == ("cat", "/h/other/f", "/h/a/f")


def test_build_command_expands_then_rewrites() -> None:
    container = {"name": "c", "command": ["bash", "$(DIR)/stress.sh"], "args": ["$(N)", "$$(N)"]}
    command = build_command(container, ENV, [STRESS_MOUNT], frozenset({STRESS_SCRIPT}))
    assert command.argv == ("bash", STRESS_SCRIPT, "5", "$(N)")


def test_build_command_keeps_hostile_args_literal() -> None:
    hostile = ["$(touch x)", "a; rm -rf /", "'single'", '"double"', "two words", "`id`", "line\nbreak"]
    command = build_command({"name": "c", "command": ["printf"], "args": hostile}, {}, [], frozenset())
    assert command.argv == ("printf", *hostile)


def test_build_command_args_only() -> None:
    command = build_command({"name": "c", "args": ["/bin/echo", "hi"]}, {}, [], frozenset())
    assert command.argv == ("/bin/echo", "hi")


@pytest.mark.parametrize("container", [{"name": "c"}, {"name": "c", "command": [], "args": []}])
def test_build_command_needs_command_or_args(container: dict[str, object]) -> None:
    with pytest.raises(MissingCommandError, match="neither command nor args"):
        build_command(container, {}, [], frozenset())


def test_build_command_rejects_non_strings() -> None:
    with pytest.raises(PodSpecError, match="args"):
        build_command({"name": "c", "command": ["x"], "args": [1]}, {}, [], frozenset())


def test_legacy_script_inserted_after_command() -> None:
    command = build_command({"name": "c", "command": ["bash"], "args": ["300", "2"]}, {}, [STRESS_MOUNT],
                            frozenset({STRESS_SCRIPT}), legacy_script=STRESS_SCRIPT)
    assert command.argv == ("bash", STRESS_SCRIPT, "300", "2")
    assert command.script_path == STRESS_SCRIPT


def test_legacy_script_not_inserted_when_args_name_mount() -> None:
    container = {"name": "c", "command": ["bash", "/stress/stress.sh"], "args": ["1"]}
    command = build_command(container, {}, [STRESS_MOUNT], frozenset({STRESS_SCRIPT}), legacy_script=STRESS_SCRIPT)
    assert command.argv == ("bash", STRESS_SCRIPT, "1")


WORKING_DIR_CONTAINER = Path("/h/ns/p/containers/c")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, WORKING_DIR_CONTAINER),
        ("", WORKING_DIR_CONTAINER),
        ("/", WORKING_DIR_CONTAINER),
        ("/data", WORKING_DIR_CONTAINER / "data"),
        ("/scratch/run/", WORKING_DIR_CONTAINER / "scratch" / "run"),
        ("//a/./b", WORKING_DIR_CONTAINER / "a" / "b"),
        ("rel", WORKING_DIR_CONTAINER / "rel"),
        ("a/../b", WORKING_DIR_CONTAINER / "b"),
        ("/a/..", WORKING_DIR_CONTAINER),
        ("/stress/sub", Path(STRESS_MOUNT.host_path) / "sub"),
        ("/stress/../stress", Path(STRESS_MOUNT.host_path)),
    ],
)
def test_working_dir_stays_in_container(value: str | None, expected: Path) -> None:
    container = {"name": "c", "workingDir": value}
    assert working_dir(container, WORKING_DIR_CONTAINER, [STRESS_MOUNT]) == expected


@pytest.mark.parametrize("value", ["..", "../x", "/../x", "a/../../b", "/stress/../../..", "/data/../../etc"])
def test_working_dir_rejects_escape(value: str) -> None:
    with pytest.raises(PodSpecError, match=r"workingDir .* contains '\.\.', which would leave its directory"):
        working_dir({"name": "c", "workingDir": value}, WORKING_DIR_CONTAINER, [STRESS_MOUNT])


@pytest.mark.parametrize("value", [5, ["/data"], "a\0b"])
def test_working_dir_rejects_non_path(value: object) -> None:
    with pytest.raises(PodSpecError, match="workingDir .* which is not a path"):
        working_dir({"name": "c", "workingDir": value}, WORKING_DIR_CONTAINER, [])


def test_config_map_writes_every_key() -> None:
    volume = parse_volume({"name": "v", "configMap": {"name": "cm"}}, 0)
    data = {"tls.key": b"k", "monkey.sh": b"m", "ca.crt": b"c", "cert.pem": b"p"}
    files = project_volume(volume, data)
    assert sorted(file.path.as_posix() for file in files) == sorted(data)
    assert {file.mode for file in files} == {0o644}


def test_config_map_items_and_modes() -> None:
    raw = {"name": "v", "configMap": {"name": "cm", "defaultMode": 0o755,
                                      "items": [{"key": "a", "path": "dir/a.sh"},
                                                {"key": "b", "path": "b", "mode": 0o600}]}}
    files = project_volume(parse_volume(raw, 0), {"a": b"1", "b": b"2", "c": b"3"})
    assert files == (VolumeFile(PurePosixPath("dir/a.sh"), b"1", 0o755), VolumeFile(PurePosixPath("b"), b"2", 0o600))


def test_secret_default_mode_is_private() -> None:
    files = project_volume(parse_volume({"name": "v", "secret": {"secretName": "s"}}, 0), {"token": b"t"})
    assert files[0].mode == 0o600


def test_missing_config_map_fails_unless_optional() -> None:
    with pytest.raises(PodSpecError, match="configMap 'cm' was not found"):
        project_volume(parse_volume({"name": "v", "configMap": {"name": "cm"}}, 0), None)
    assert project_volume(parse_volume({"name": "v", "configMap": {"name": "cm", "optional": True}}, 0), None) == ()


def test_missing_item_key_fails() -> None:
    volume = parse_volume({"name": "v", "configMap": {"name": "cm", "items": [{"key": "x", "path": "x"}]}}, 0)
    with pytest.raises(PodSpecError, match="no key 'x'"):
        project_volume(volume, {"y": b""})


@pytest.mark.parametrize("kind", ["persistentVolumeClaim", "nfs", "csi", "ephemeral"])
def test_unsupported_volume_type_named(kind: str) -> None:
    with pytest.raises(PodSpecError, match=kind):
        parse_volume({"name": "v", kind: {}}, 0)


def test_volume_validation_errors() -> None:
    with pytest.raises(PodSpecError, match="exactly one volume type"):
        parse_volume({"name": "v", "emptyDir": {}, "configMap": {"name": "x"}}, 0)
    with pytest.raises(PodSpecError, match="absolute host path"):
        parse_volume({"name": "v", "hostPath": {"path": "relative"}}, 0)
    with pytest.raises(PodSpecError, match="defaultMode"):
        parse_volume({"name": "v", "configMap": {"name": "x", "defaultMode": 0o1777}}, 0)
    with pytest.raises(PodSpecError, match="used twice"):
        parse_volumes({"spec": {"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]}})
    with pytest.raises(PodSpecError, match=r"items\[0\].path"):
        parse_volume({"name": "v", "configMap": {"name": "x", "items": [{"key": "a", "path": "../a"}]}}, 0)


def test_parse_mounts_errors_and_order() -> None:
    volumes = parse_volumes({"spec": {"volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]}})
    mounts = parse_mounts({"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/a/b"},
                                                         {"name": "w", "mountPath": "/a"}]}, volumes)
    assert [mount.mount_path for mount in mounts] == ["/a", "/a/b"]
    bad_mounts = [
        ([{"name": "nope", "mountPath": "/a"}], "lacks"),
        ([{"name": "v", "mountPath": "/../a"}], r"\.\."),
        ([{"name": "v", "mountPath": "/a"}, {"name": "w", "mountPath": "/a/"}], "two volumes"),
        ([{"name": "v", "mountPath": "/pgid"}], "pgid"),
        ([{"name": "v", "mountPath": "/a", "subPath": "../x"}], "subPath"),
    ]
    for raw, message in bad_mounts:
        with pytest.raises(PodSpecError, match=message):
            parse_mounts({"name": "c", "volumeMounts": raw}, volumes)


def test_select_sub_path() -> None:
    files = (VolumeFile(PurePosixPath("a/x"), b"1", 0o644), VolumeFile(PurePosixPath("b"), b"2", 0o644))
    assert select_sub_path(files, PurePosixPath("a")) == (VolumeFile(PurePosixPath("x"), b"1", 0o644),)
    assert select_sub_path(files, PurePosixPath("b"))[0].path == PurePosixPath()
    with pytest.raises(PodSpecError, match="matches no file"):
        select_sub_path(files, PurePosixPath("c"))


def test_legacy_script_name_skips_key_material() -> None:
    files = tuple(VolumeFile(PurePosixPath(name), b"", 0o644) for name in ("a.sh", "run.sh", "tls.key", "z.pem"))
    assert legacy_script_name(files) == PurePosixPath("run.sh")
    assert legacy_script_name(()) is None


@pytest.mark.parametrize(
    ("line", "pid", "comm", "state", "pgrp", "starttime"),
    [
        ("42 (sleep) S 1 42 42 0 -1 4194304 0 0 0 0 3 4 5 6 20 0 1 0 777 0 0", 42, "sleep", "S", 42, 777),
        ("7 (a b) c)) Z 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12 0 0", 7, "a b) c)", "Z", 9, 12),
    ],
)
def test_parse_stat(line: str, pid: int, comm: str, state: str, pgrp: int, starttime: int) -> None:
    stat = parse_stat(line)
    assert (stat.pid, stat.comm, stat.state, stat.pgrp, stat.starttime) == (pid, comm, state, pgrp, starttime)


def test_parse_stat_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="invalid /proc stat line"):
        parse_stat("garbage")


@pytest.mark.parametrize(("returncode", "status"), [(0, 0), (3, 3), (-9, 137), (-15, 143)])
def test_exit_status(returncode: int, status: int) -> None:
    assert exit_status(returncode) == status


def test_describe_exit() -> None:
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(137) == "exit code 137 (SIGKILL)"
    assert describe_exit(255) == "exit code 255"
