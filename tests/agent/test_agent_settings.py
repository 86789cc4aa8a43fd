"""Agent settings from the environment and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiriaf_fw.services.agent.main import build_parser
from jiriaf_fw.services.agent.settings import AgentSettingsError, load_settings

ENV = {
    "NODENAME": "vk-a1b2c3d4",
    "KUBECONFIG": "/tmp/kc",
    "VKUBELET_POD_IP": "172.17.0.1",
    "KUBELET_PORT": "10011",
    "JIRIAF_WALLTIME": "3540",
    "JIRIAF_NODETYPE": "cpu",
    "JIRIAF_SITE": "perlmutter",
    "HOME": "/home/u",
}


def test_settings_from_environment() -> None:
    settings = load_settings(ENV)
    assert settings.nodename == "vk-a1b2c3d4"
    assert settings.kubeconfig == Path("/tmp/kc")
    assert settings.pod_ip == "172.17.0.1"
    assert settings.kubelet_port == 10011
    assert settings.walltime_s == 3540
    assert (settings.nodetype, settings.site) == ("cpu", "perlmutter")
    assert settings.home == Path("/home/u")
    assert settings.slurm_job_id is None
    assert settings.tls_cert is None


def test_flags_win_over_environment() -> None:
    settings = load_settings(ENV, nodename="other", kubeconfig="/k")
    assert settings.nodename == "other"
    assert settings.kubeconfig == Path("/k")


def test_defaults() -> None:
    env = {k: v for k, v in ENV.items() if k not in ("KUBELET_PORT", "JIRIAF_WALLTIME")}
    settings = load_settings(env)
    assert settings.kubelet_port == 10250
    assert settings.walltime_s == 0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("JIRIAF_WALLTIME", "3600s", "JIRIAF_WALLTIME"),
        ("JIRIAF_WALLTIME", "-5", "JIRIAF_WALLTIME"),
        ("KUBELET_PORT", "70000", "KUBELET_PORT"),
        ("VKUBELET_POD_IP", "not-an-ip", "VKUBELET_POD_IP"),
        ("VKUBELET_POD_IP", "", "VKUBELET_POD_IP"),
        ("NODENAME", "Bad_Name", "node name"),
        ("NODENAME", "", "NODENAME"),
        ("JIRIAF_SITE", "a b", "JIRIAF_SITE"),
    ],
)
def test_invalid_values_rejected(key: str, value: str, message: str) -> None:
    with pytest.raises(AgentSettingsError, match=message):
        load_settings({**ENV, key: value})


def test_cert_without_key_rejected() -> None:
    with pytest.raises(AgentSettingsError, match="APISERVER_KEY_LOCATION"):
        load_settings({**ENV, "APISERVER_CERT_LOCATION": "/c.crt"})


def test_original_flags_accepted() -> None:
    args = build_parser().parse_args(
        [
            "--kubeconfig",
            "/k",
            "--nodename",
            "n",
            "--provider",
            "mock",
            "--klog.v",
            "3",
            "--log-level",
            "DEBUG",
        ]
    )
    assert (args.nodename, args.kubeconfig, args.provider, args.log_level) == ("n", "/k", "mock", "debug")


def test_unknown_provider_rejected() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--provider", "kubernetes"])
