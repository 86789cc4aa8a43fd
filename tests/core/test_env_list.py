"""The env.list form of the original JIRIAF launcher, read into a SiteConfig."""

from pathlib import Path

import pytest

from jiriaf_fw.core.config_env_list import ENV_LIST_KEYS, site_config_from_env_list
from jiriaf_fw.core.errors import ConfigError
from jiriaf_fw.core.ports import PortRange

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "env.list"

LOCAL_LINES = [
    "nnodes=1",
    "walltime=00:10:00",
    "nodename=vk-local",
    "site=local",
    "kubeconfig=kubeconfig",
    "vkubelet_pod_ip=127.0.0.1",
]


def write_env(tmp_path: Path, lines: list[str]) -> str:
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\n")
    (tmp_path / "env.list").write_text("\n".join(lines) + "\n")
    return "env.list"


def env_error(tmp_path: Path, lines: list[str]) -> str:
    with pytest.raises(ConfigError) as caught:
        site_config_from_env_list(write_env(tmp_path, lines))
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_example_env_list(tmp_path: Path) -> None:
    config = site_config_from_env_list(EXAMPLE)
    assert config.slurm.nodes == 2
    assert config.slurm.constraint == "cpu"
    assert config.slurm.walltime_duration.seconds == 300
    assert (config.slurm.account, config.slurm.qos) == ("m3792", "debug")
    assert config.jrm.nodename == "vk-nersc-test"
    assert config.jrm.nodetype == "cpu"
    assert config.jrm.site == "perlmutter"
    assert (config.jrm.control_plane_ip, config.jrm.apiserver_port) == ("jiriaf2302", 38687)
    assert config.jrm.kubeconfig == "/global/homes/j/jlabtsai/run-vk/kubeconfig/jiriaf2302"
    assert config.jrm.vkubelet_pod_ips == "172.17.0.1"
    assert config.jrm.image == "docker:jlabsai/vk-cmd:main"
    assert config.jrm.custom_metrics_ports == [1234, 1423]
    assert config.jrm.kubelet_port_range == PortRange(10000, 19999)
    assert config.ssh is not None
    assert config.ssh.remote == "jlabsai@128.55.64.13"
    assert config.ssh.remote_proxy == "perlmutter"
    assert config.ssh.key == f"{tmp_path}/home/.ssh/nersc"


def test_local_env_list(tmp_path: Path) -> None:
    config = site_config_from_env_list(write_env(tmp_path, ["# a comment", "", *LOCAL_LINES]))
    assert config.ssh is None
    assert config.jrm.kubeconfig == f"{tmp_path}/kubeconfig"
    assert config.jrm.nodetype == "cpu"


def test_quotes_and_spaces_dropped(tmp_path: Path) -> None:
    lines = [
        *LOCAL_LINES[:3],
        'site = "local"',
        "kubeconfig='kubeconfig'",
        "vkubelet_pod_ip=127.0.0.1",
        "custom_metrics_ports=2221,1776 8088",
        "ssh_remote_proxy=",
    ]
    config = site_config_from_env_list(write_env(tmp_path, lines))
    assert config.jrm.site == "local"
    assert config.jrm.custom_metrics_ports == [2221, 1776, 8088]
    assert config.ssh is None


def test_home_in_remote_path_kept(tmp_path: Path) -> None:
    lines = [
        *LOCAL_LINES[:4],
        "kubeconfig=$HOME/kube/config",
        "vkubelet_pod_ip=127.0.0.1",
        "control_plane_ip=10.0.0.1",
        "apiserver_port=6443",
        "ssh_remote=u@h",
        "ssh_key=${HOME}/.ssh/k",
    ]
    config = site_config_from_env_list(write_env(tmp_path, lines))
    assert config.jrm.kubeconfig == "~/kube/config"
    assert config.ssh is not None
    assert config.ssh.key == f"{tmp_path}/home/.ssh/k"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["nnodes=two", *LOCAL_LINES[1:]], "env.list: nnodes: expected an integer, got 'two'"),
        (
            [*LOCAL_LINES, "custom_metrics_ports=2221 x"],
            "env.list: custom_metrics_ports.1: expected an integer, got 'x'",
        ),
        (
            [*LOCAL_LINES[:1], "walltime=00:01:00", *LOCAL_LINES[2:]],
            (
                "env.list: walltime: walltime '00:01:00' (60 s) is too short: the agent stops 60 s before the Slurm job "
                "ends, so the walltime must be longer than 60 s; use 2 minutes or more, or UNLIMITED"
            ),
        ),
        (
            [*LOCAL_LINES, "nodetype=cpu&hbm"],
            (
                "env.list: nodetype: slurm.constraint 'cpu&hbm' is not a valid label value, so it cannot be the default "
                "node type; set jrm.nodetype (letters, digits and - _ .)"
            ),
        ),
        (
            [*LOCAL_LINES, "ssh_remote=u@h", "ssh_key=k"],
            "env.list: control_plane_ip: missing required key (a site with an ssh section needs it)",
        ),
        ([*LOCAL_LINES, "ssh_key=k"], "env.list: ssh_remote: missing required key"),
    ],
)
def test_bad_values(tmp_path: Path, lines: list[str], message: str) -> None:
    assert env_error(tmp_path, lines) == message


def test_nodes_default_to_one(tmp_path: Path) -> None:
    assert site_config_from_env_list(write_env(tmp_path, LOCAL_LINES[1:])).slurm.nodes == 1


def test_missing_required_key(tmp_path: Path) -> None:
    lines = [line for line in LOCAL_LINES if not line.startswith("nodename=")]
    assert env_error(tmp_path, lines) == "env.list: nodename: missing required key"


def test_unknown_key(tmp_path: Path) -> None:
    assert env_error(tmp_path, [*LOCAL_LINES, "nnode=2"]) == (
        f"env.list: nnode: unknown key; valid keys: {', '.join(ENV_LIST_KEYS)}"
    )


def test_line_without_equals(tmp_path: Path) -> None:
    assert (
        env_error(tmp_path, [*LOCAL_LINES, "export"]) == "env.list: line 7: expected KEY=VALUE, got 'export'"
    )


def test_bad_key_name(tmp_path: Path) -> None:
    assert env_error(tmp_path, ["1x=2", *LOCAL_LINES]) == "env.list: line 1: expected KEY=VALUE, got '1x=2'"


def test_duplicate_key(tmp_path: Path) -> None:
    assert env_error(tmp_path, [*LOCAL_LINES, "site=other"]) == "env.list: line 7: duplicate key 'site'"


def test_missing_kubeconfig(tmp_path: Path) -> None:
    lines = [*LOCAL_LINES[:4], "kubeconfig=nope", "vkubelet_pod_ip=127.0.0.1"]
    assert env_error(tmp_path, lines) == f"env.list: kubeconfig: file not found: '{tmp_path}/nope'"


def test_relative_paths_follow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "kc").write_text("apiVersion: v1\n")
    python = site_dir / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    lines = [*LOCAL_LINES[:4], "kubeconfig=kc", "vkubelet_pod_ip=127.0.0.1", "python=venv/bin/python",
             "work_root=runs"]
    (site_dir / "env.list").write_text("\n".join(lines) + "\n")
    # A kubeconfig of the same name in the current directory must not be used.
    (tmp_path / "kc").write_text("apiVersion: v1\n")
    monkeypatch.chdir(tmp_path)

    config = site_config_from_env_list("site/env.list")
    assert config.jrm.kubeconfig == f"{site_dir}/kc"
    assert config.jrm.python == str(python)
    assert config.jrm.work_root == f"{site_dir}/runs"


def test_python_not_executable(tmp_path: Path) -> None:
    (tmp_path / "python").write_text("not executable\n")
    lines = [*LOCAL_LINES, "python=python"]
    assert env_error(tmp_path, lines) == f"env.list: python: not an executable file: '{tmp_path}/python'"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        site_config_from_env_list(tmp_path / "nope.list")
    assert str(caught.value) == f"{tmp_path / 'nope.list'}: config file not found"
