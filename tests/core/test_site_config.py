"""Site config validation and the one-line ConfigError messages of load_site_config."""

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from jiriaf_fw.core.config import (
    JrmConfig,
    SiteConfig,
    SlurmConfig,
    SshConfig,
    load_site_config,
    redacted_config_dict,
    site_config_from_mapping,
)
from jiriaf_fw.core.config_sources import SiteYamlLoader
from jiriaf_fw.core.errors import ConfigError
from jiriaf_fw.core.ports import PortRange

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SLURM_KEYS = (
    "nodes, walltime, constraint, qos, account, reservation, partition, job_name, cpus_per_task, mem, "
    "gpus_per_node, exclusive, extra_sbatch"
)
DURATION_FORMS = (
    "minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, "
    "days-hours:minutes:seconds, UNLIMITED or 0 (no limit)"
)

Writer = Callable[[Any], str]


def base_config() -> dict[str, Any]:
    return {
        "slurm": {"nodes": 2, "walltime": "00:10:00"},
        "jrm": {
            "nodename": "vk",
            "site": "local",
            "kubeconfig": "kubeconfig",
            "vkubelet_pod_ips": "127.0.0.1",
        },
    }


def remote_config() -> dict[str, Any]:
    data = base_config()
    data["jrm"].update(control_plane_ip="cp.example.org", apiserver_port=38687, kubeconfig="~/kube/config")
    data["ssh"] = {"remote": "user@login.example.org", "key": "~/.ssh/site"}
    return data


@pytest.fixture()
def write_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Writer:
    """Write site.yaml (from a dict or raw text) in a fresh working directory that has a kubeconfig."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\n")

    def write(data: Any) -> str:
        text = data if isinstance(data, str) else yaml.safe_dump(data)
        (tmp_path / "site.yaml").write_text(text)
        return "site.yaml"

    return write


def load_error(write_site: Writer, data: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        load_site_config(write_site(data))
    message = str(caught.value)
    assert "\n" not in message
    return message


def changed(section: str, **values: Any) -> dict[str, Any]:
    data = base_config()
    data[section].update(values)
    return data


BAD_VALUES = [
    (
        changed("slurm", walltime="1:2:3:4"),
        f"site.yaml: slurm.walltime: invalid Slurm duration '1:2:3:4'; accepted forms: {DURATION_FORMS}",
    ),
    (
        changed("slurm", walltime="-5"),
        f"site.yaml: slurm.walltime: invalid Slurm duration '-5'; accepted forms: {DURATION_FORMS}",
    ),
    (
        changed("slurm", walltime="abc"),
        f"site.yaml: slurm.walltime: invalid Slurm duration 'abc'; accepted forms: {DURATION_FORMS}",
    ),
    (
        changed("slurm", walltime="1-"),
        f"site.yaml: slurm.walltime: invalid Slurm duration '1-'; accepted forms: {DURATION_FORMS}",
    ),
    (
        changed("slurm", walltime="12:75:00"),
        f"site.yaml: slurm.walltime: invalid Slurm duration '12:75:00'; accepted forms: {DURATION_FORMS}",
    ),
    (
        changed("slurm", walltime=""),
        f"site.yaml: slurm.walltime: invalid Slurm duration ''; accepted forms: {DURATION_FORMS}",
    ),
    (
        changed("slurm", walltime="00:01:00"),
        (
            "site.yaml: slurm.walltime: walltime '00:01:00' (60 s) is too short: the agent stops 60 s before the Slurm "
            "job ends, so the walltime must be longer than 60 s; use 2 minutes or more, or UNLIMITED"
        ),
    ),
    (
        changed("slurm", walltime="00:00:30"),
        (
            "site.yaml: slurm.walltime: walltime '00:00:30' (30 s) is too short: the agent stops 60 s before the Slurm "
            "job ends, so the walltime must be longer than 60 s; use 2 minutes or more, or UNLIMITED"
        ),
    ),
    (
        changed("slurm", walltime="1"),
        (
            "site.yaml: slurm.walltime: walltime '1' (60 s) is too short: the agent stops 60 s before the Slurm "
            "job ends, so the walltime must be longer than 60 s; use 2 minutes or more, or UNLIMITED"
        ),
    ),
    (
        changed("slurm", partitionn="debug"),
        f"site.yaml: slurm.partitionn: unknown key; valid keys: {SLURM_KEYS}",
    ),
    (changed("slurm", nodes="two"), "site.yaml: slurm.nodes: expected an integer, got 'two'"),
    (changed("slurm", nodes=0), "site.yaml: slurm.nodes: expected a number >= 1, got 0"),
    (changed("slurm", nodes=True), "site.yaml: slurm.nodes: expected an integer, got True"),
    (changed("slurm", nodes=1.5), "site.yaml: slurm.nodes: expected an integer, got 1.5"),
    (changed("jrm", site="a\nb"), "site.yaml: jrm.site: control character '\\n' is not allowed"),
    (
        changed("slurm", account="m1\n#SBATCH --qos=x"),
        "site.yaml: slurm.account: control character '\\n' is not allowed",
    ),
    (changed("slurm", qos="debug\r"), "site.yaml: slurm.qos: control character '\\r' is not allowed"),
    (
        changed("jrm", kubeconfig="/a\u2028b"),
        "site.yaml: jrm.kubeconfig: control character '\\u2028' is not allowed",
    ),
    (
        changed("slurm", account="a b"),
        ("site.yaml: slurm.account: invalid Slurm account 'a b': use letters, digits and . _ + -"),
    ),
    (
        changed("slurm", account="$(touch x)"),
        ("site.yaml: slurm.account: invalid Slurm account '$(touch x)': use letters, digits and . _ + -"),
    ),
    (
        changed("slurm", qos="de'bug"),
        ('site.yaml: slurm.qos: invalid Slurm QOS "de\'bug": use letters, digits and . _ + -'),
    ),
    (
        changed("slurm", reservation="r;x"),
        ("site.yaml: slurm.reservation: invalid Slurm reservation 'r;x': use letters, digits and . _ + -"),
    ),
    (
        changed("slurm", partition="a,,b"),
        (
            "site.yaml: slurm.partition: invalid Slurm partition 'a,,b': use letters, "
            "digits and . _ + -, with ',' between names"
        ),
    ),
    (
        changed("slurm", constraint="cpu hbm"),
        (
            "site.yaml: slurm.constraint: invalid Slurm constraint 'cpu hbm': use "
            "feature names of letters, digits and . _ - joined by & | , * ! ( ) [ ]"
        ),
    ),
    (
        changed("slurm", job_name="a`b`"),
        ("site.yaml: slurm.job_name: invalid Slurm job name 'a`b`': use letters, digits and . _ + = @ -"),
    ),
    (
        changed("slurm", mem="4 GB"),
        (
            "site.yaml: slurm.mem: invalid Slurm memory size '4 GB': use a number with an "
            "optional K, M, G or T suffix, e.g. 4G or 4000M (megabytes without a suffix)"
        ),
    ),
    (
        changed("slurm", gpus_per_node="a100:0"),
        (
            "site.yaml: slurm.gpus_per_node: invalid GPU count 'a100:0': use a "
            "number >= 0 or type:count, e.g. a100:4"
        ),
    ),
    (changed("slurm", cpus_per_task=0), "site.yaml: slurm.cpus_per_task: expected a number >= 1, got 0"),
    (changed("slurm", exclusive="maybe"), "site.yaml: slurm.exclusive: expected true or false, got 'maybe'"),
    (
        changed("slurm", extra_sbatch="--signal=USR1"),
        ("site.yaml: slurm.extra_sbatch: expected a list, got '--signal=USR1'"),
    ),
    (
        changed("slurm", extra_sbatch=["--signal=B:USR1@90", "-t 10"]),
        (
            "site.yaml: slurm.extra_sbatch.1: invalid sbatch option '-t 10': use '--option' or '--option=value', with a "
            "value of letters, digits and . _ , : @ % / = + & | * ! ( ) [ ] ~ - (no spaces or quotes)"
        ),
    ),
    (
        changed("slurm", extra_sbatch=["--comment=a b"]),
        (
            "site.yaml: slurm.extra_sbatch.0: invalid sbatch option '--comment=a b': use '--option' or '--option=value', "
            "with a value of letters, digits and . _ , : @ % / = + & | * ! ( ) [ ] ~ - (no spaces or quotes)"
        ),
    ),
    (
        changed("slurm", extra_sbatch=["--time=10"]),
        (
            "site.yaml: slurm.extra_sbatch.0: sbatch option '--time=10' is set by slurm.walltime, so it cannot be in "
            "slurm.extra_sbatch"
        ),
    ),
    (
        changed("slurm", extra_sbatch=["--tim=10"]),
        (
            "site.yaml: slurm.extra_sbatch.0: sbatch option '--tim=10' is set by slurm.walltime, so it cannot be in "
            "slurm.extra_sbatch"
        ),
    ),
    (
        changed("slurm", extra_sbatch=["--output=x.out"]),
        (
            "site.yaml: slurm.extra_sbatch.0: sbatch option '--output=x.out' is set by jiriaf-fw (the launch directory), "
            "so it cannot be in slurm.extra_sbatch"
        ),
    ),
    (
        changed("slurm", extra_sbatch=["--chdir=/tmp"]),
        (
            "site.yaml: slurm.extra_sbatch.0: sbatch option '--chdir=/tmp' is set by jiriaf-fw (the launch directory), so "
            "it cannot be in slurm.extra_sbatch"
        ),
    ),
    (
        changed("slurm", extra_sbatch=["--reservation=r1"]),
        (
            "site.yaml: slurm.extra_sbatch.0: sbatch option '--reservation=r1' is set by slurm.reservation, so it cannot "
            "be in slurm.extra_sbatch"
        ),
    ),
    (
        changed("slurm", extra_sbatch=["--parsable"]),
        (
            "site.yaml: slurm.extra_sbatch.0: sbatch option '--parsable' is set by jiriaf-fw (the sbatch command line, "
            "which reads the job id from it), so it cannot be in slurm.extra_sbatch"
        ),
    ),
    (
        changed("slurm", walltime="366-00:00:00"),
        "site.yaml: slurm.walltime: walltime '366-00:00:00' is longer than 365 days; use UNLIMITED for no limit",
    ),
    (
        changed("slurm", walltime=99999999999),
        "site.yaml: slurm.walltime: walltime '99999999999' is longer than 365 days; use UNLIMITED for no limit",
    ),
    (
        changed("jrm", nodename="VK_1"),
        (
            "site.yaml: jrm.nodename: invalid node name prefix 'VK_1': use lowercase letters, digits and '-', starting "
            "and ending with a letter or digit, at most 54 characters so that '-<8 hex>' fits in a 63-character "
            "Kubernetes node name"
        ),
    ),
    (
        changed("jrm", site="perl mutter"),
        (
            "site.yaml: jrm.site: invalid label value 'perl mutter': use at most 63 letters, digits and - _ . , starting "
            "and ending with a letter or digit (a Kubernetes label value)"
        ),
    ),
    (
        changed("jrm", nodetype="x" * 64),
        f"site.yaml: jrm.nodetype: invalid label value '{'x' * 64}': longer than 63 characters",
    ),
    (
        changed("slurm", constraint="cpu&hbm"),
        (
            "site.yaml: jrm.nodetype: slurm.constraint 'cpu&hbm' is not a valid label value, so it cannot be the default "
            "node type; set jrm.nodetype (letters, digits and - _ .)"
        ),
    ),
    (
        changed("jrm", profile="cray"),
        ("site.yaml: jrm.profile: expected one of 'local', 'perlmutter' or 'ornl', got 'cray'"),
    ),
    (
        changed("jrm", profile="perlmutter"),
        "site.yaml: jrm.image: missing required key (profile 'perlmutter' runs the agent in a container image)",
    ),
    (
        changed("jrm", profile="ornl", image="a b.sif"),
        (
            "site.yaml: jrm.image: invalid container image 'a b.sif': use letters, digits and . _ / : @ + - (e.g. "
            "docker:registry/name:tag for shifter, or an image file such as /path/jiriaf-fw.sif for apptainer)"
        ),
    ),
    (
        changed("jrm", vkubelet_pod_ips="10.0.0.300"),
        ("site.yaml: jrm.vkubelet_pod_ips: invalid IP address '10.0.0.300'"),
    ),
    (
        changed("jrm", vkubelet_pod_ips=["10.0.0.1", "x"]),
        ("site.yaml: jrm.vkubelet_pod_ips: invalid IP address 'x' at index 1"),
    ),
    (
        changed("jrm", vkubelet_pod_ips=["10.0.0.1"]),
        (
            "site.yaml: jrm.vkubelet_pod_ips: expected one IP address per node (2), got 1: ['10.0.0.1']; give a single "
            "IP to share it"
        ),
    ),
    (
        changed("jrm", vkubelet_pod_ips=[]),
        "site.yaml: jrm.vkubelet_pod_ips: expected an IP address or a non-empty list of IP addresses, got []",
    ),
    (
        changed("jrm", custom_metrics_ports=[2221, 1776, 2221]),
        "site.yaml: jrm.custom_metrics_ports: duplicate port 2221 in [2221, 1776, 2221]",
    ),
    (
        changed("jrm", custom_metrics_ports=[2221, 70000]),
        "site.yaml: jrm.custom_metrics_ports.1: expected a number <= 65535, got 70000",
    ),
    (
        changed("jrm", kubelet_port_range="20"),
        "site.yaml: jrm.kubelet_port_range: invalid port range '20': expected 'first-last', e.g. '10000-19999'",
    ),
    (
        changed("jrm", kubelet_port_range="20000-30000"),
        (
            "site.yaml: jrm.kubelet_port_range: range 20000-30000 overlaps the default jrm.metrics_port_range "
            "20000-49999; use a separate range or set jrm.metrics_port_range"
        ),
    ),
    (
        changed("jrm", kubelet_port_range="20000-30000", metrics_port_range="30000-30010"),
        (
            "site.yaml: jrm.metrics_port_range: range 30000-30010 overlaps jrm.kubelet_port_range 20000-30000; use "
            "separate ranges"
        ),
    ),
    (
        changed("jrm", metrics_port_range="19000-20000"),
        (
            "site.yaml: jrm.metrics_port_range: range 19000-20000 overlaps the default jrm.kubelet_port_range "
            "10000-19999; use separate ranges"
        ),
    ),
    (
        changed("jrm", kubelet_port_range=[10000, 10000]),
        "site.yaml: jrm.kubelet_port_range: range 10000-10000 has 1 port, fewer than the 2 nodes",
    ),
    (
        changed("jrm", metrics_port_range="20000-20002", custom_metrics_ports=[1, 2]),
        (
            "site.yaml: jrm.metrics_port_range: range 20000-20002 has 3 ports, but 4 are needed (2 nodes x 2 custom "
            "metrics ports)"
        ),
    ),
    (
        changed("jrm", metrics_port_range="20000-20000", custom_metrics_ports=[1]),
        (
            "site.yaml: jrm.metrics_port_range: range 20000-20000 has 1 port, but 2 are needed (2 nodes x 1 custom "
            "metrics port)"
        ),
    ),
    (
        changed("jrm", work_root="/scratch/%u"),
        "site.yaml: jrm.work_root: invalid work root '/scratch/%u': use letters, digits, spaces and . _ / ~ + , @ = : -",
    ),
    (
        changed("jrm", control_plane_ip="cp host"),
        (
            "site.yaml: jrm.control_plane_ip: invalid host 'cp host': use an IP address or a host name of letters, "
            "digits, '.' and '-'"
        ),
    ),
    (changed("jrm", apiserver_port=0), "site.yaml: jrm.apiserver_port: expected a number >= 1, got 0"),
    ({"slurm": "x", "jrm": base_config()["jrm"]}, "site.yaml: slurm: expected a mapping, got 'x'"),
    ({"jrm": base_config()["jrm"]}, "site.yaml: slurm: missing required key"),
    ({**base_config(), "sssh": {}}, "site.yaml: sssh: unknown key; valid keys: slurm, jrm, ssh"),
]


EXPORT_REASON = (
    "jiriaf-fw relies on sbatch's default --export=ALL, because the job needs the submitter's PATH and SLURM_CONF"
)
REJECTED_SBATCH = [
    ("--export=NONE", EXPORT_REASON),
    ("--export=ALL,X=1", EXPORT_REASON),
    ("--exp=NONE", EXPORT_REASON),
    (
        "--get-user-env",
        (
            "it replaces the submitter's environment with the user's login environment, and the job needs the "
            "submitter's PATH and SLURM_CONF"
        ),
    ),
    ("--get-user-env=10L", None),
    ("--test-only", "sbatch would only check the script and submit no job"),
    ("--test", None),
    ("--hold", "the job would stay pending until someone releases it with scontrol release"),
    ("--wait", "sbatch would not return until the job ends, so the launch would block for the whole walltime"),
]


@pytest.mark.parametrize(("option", "reason"), REJECTED_SBATCH)
def test_harmful_sbatch_option_rejected(write_site: Writer, option: str, reason: str | None) -> None:
    message = load_error(write_site, changed("slurm", extra_sbatch=[option]))
    prefix = f"site.yaml: slurm.extra_sbatch.0: sbatch option {option!r} is not allowed in slurm.extra_sbatch: "
    assert message.startswith(prefix)
    if reason is not None:
        assert message == prefix + reason


def test_similar_sbatch_options_accepted(write_site: Writer) -> None:
    options = ["--wait-all-nodes=1", "--export-file=env.txt", "--hint=nomultithread", "--signal=B:USR1@90"]
    config = load_site_config(write_site(changed("slurm", extra_sbatch=options)))
    assert config.slurm.extra_sbatch == options


@pytest.mark.parametrize("walltime", ["365-00:00:00", "525600"])
def test_walltime_of_365_days_accepted(write_site: Writer, walltime: str) -> None:
    config = load_site_config(write_site(changed("slurm", walltime=walltime)))
    assert config.slurm.walltime_duration.seconds == 365 * 86400


@pytest.mark.parametrize(("data", "message"), BAD_VALUES)
def test_bad_value_message(write_site: Writer, data: dict[str, Any], message: str) -> None:
    assert load_error(write_site, data) == message


def test_missing_nodename(write_site: Writer) -> None:
    data = base_config()
    del data["jrm"]["nodename"]
    assert load_error(write_site, data) == "site.yaml: jrm.nodename: missing required key"


def test_more_errors_counted(write_site: Writer) -> None:
    data = changed("slurm", nodes="two", qos="a b", walltime="abc")
    assert load_error(write_site, data) == (
        "site.yaml: slurm.nodes: expected an integer, got 'two' (and 2 more)"
    )


REMOTE_ERRORS = [
    (
        {"control_plane_ip": None},
        ("site.yaml: jrm.control_plane_ip: missing required key (a site with an ssh section needs it)"),
    ),
    (
        {"apiserver_port": None},
        ("site.yaml: jrm.apiserver_port: missing required key (a site with an ssh section needs it)"),
    ),
]


@pytest.mark.parametrize(("jrm_values", "message"), REMOTE_ERRORS)
def test_ssh_needs_control_plane(write_site: Writer, jrm_values: dict[str, Any], message: str) -> None:
    data = remote_config()
    for key in jrm_values:
        del data["jrm"][key]
    assert load_error(write_site, data) == message


@pytest.mark.parametrize(
    ("ssh_values", "message"),
    [
        (
            {"remote": "login.example.org"},
            ("site.yaml: ssh.remote: invalid SSH remote 'login.example.org': expected user@host"),
        ),
        (
            {"remote_proxy": "a b"},
            "site.yaml: ssh.remote_proxy: invalid SSH proxy 'a b': expected host or user@host",
        ),
        ({"port": "ssh"}, "site.yaml: ssh.port: expected an integer, got 'ssh'"),
        ({"key_passphrase": 1234}, "site.yaml: ssh.key_passphrase: expected a string, got 1234"),
        (
            {"password": "x"},
            (
                "site.yaml: ssh.password: unknown key; valid keys: remote, remote_proxy, key, port, "
                "known_hosts, key_passphrase"
            ),
        ),
    ],
)
def test_bad_ssh_values(write_site: Writer, ssh_values: dict[str, Any], message: str) -> None:
    data = remote_config()
    data["ssh"].update(ssh_values)
    assert load_error(write_site, data) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "",
            "site.yaml: expected a mapping with the keys slurm, jrm and ssh at the top level, got an empty file",
        ),
        (
            "- a\n- b\n",
            (
                "site.yaml: expected a mapping with the keys slurm, jrm and ssh at the top level, got a list "
                "['a', 'b']"
            ),
        ),
        (
            "just text\n",
            (
                "site.yaml: expected a mapping with the keys slurm, jrm and ssh at the top level, got a "
                "string 'just text'"
            ),
        ),
        (
            "slurm: {nodes: 1\n",
            ("site.yaml: invalid YAML at line 2, column 1: expected ',' or '}', but got '<stream end>'"),
        ),
        (
            "slurm:\n  walltime: 10\n  walltime: 20\n",
            ("site.yaml: invalid YAML at line 3, column 3: duplicate key 'walltime'"),
        ),
        (
            "slurm: !!python/object:os.system {}\n",
            (
                "site.yaml: invalid YAML at line 1, column 8: could not determine "
                "a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'"
            ),
        ),
    ],
)
def test_bad_files(write_site: Writer, text: str, message: str) -> None:
    assert load_error(write_site, text) == message


ALIAS_SITE = (
    "slurm:\n  walltime: &limit 00:10:00\n  nodes: 1\n"
    "jrm:\n  nodename: vk\n  site: local\n  kubeconfig: kubeconfig\n  vkubelet_pod_ips: 127.0.0.1\n"
    "  nodetype: *limit\n"
)
MERGE_SITE = (
    "defaults: &defaults\n  nodes: 1\n"
    "slurm:\n  <<: *defaults\n  walltime: 00:10:00\n"
)
ALIAS_MESSAGE = "YAML aliases (*{}) are not allowed in a site config; write the value out in full"


def alias_bomb(levels: int, width: int) -> str:
    """Return YAML in which each list contains `width` aliases of the previous one: width**levels items."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "where", "anchor"),
    [(ALIAS_SITE, "line 9, column 13", "limit"), (MERGE_SITE, "line 4, column 7", "defaults")],
)
def test_yaml_alias_rejected(write_site: Writer, text: str, where: str, anchor: str) -> None:
    assert load_error(write_site, text) == f"site.yaml: {where}: {ALIAS_MESSAGE.format(anchor)}"


def test_alias_bomb_rejected_unexpanded(write_site: Writer, monkeypatch: pytest.MonkeyPatch) -> None:
    constructed: list[object] = []
    original = SiteYamlLoader.construct_document

    def record_construct(loader: SiteYamlLoader, node: yaml.Node) -> Any:
        constructed.append(node)
        return original(loader, node)

    monkeypatch.setattr(SiteYamlLoader, "construct_document", record_construct)
    # 10 * 10**9 strings once expanded.
    message = load_error(write_site, alias_bomb(levels=9, width=10))
    assert message == f"site.yaml: line 2, column 10: {ALIAS_MESSAGE.format('a0')}"
    assert constructed == []


def test_yaml_anchor_without_alias_accepted(write_site: Writer) -> None:
    config = load_site_config(write_site(ALIAS_SITE.replace("*limit", "cpu")))
    assert config.slurm.walltime == "00:10:00"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_site_config(path)
    assert str(caught.value) == f"{path}: config file not found"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_site_config(tmp_path)
    assert str(caught.value) == f"{tmp_path}: cannot read the config file: Is a directory"


def test_binary_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(b"slurm: \xff\n")
    with pytest.raises(ConfigError) as caught:
        load_site_config(path)
    assert str(caught.value) == f"{path}: the config file is not UTF-8 text (invalid start byte at byte 7)"


def test_error_chains_cause(write_site: Writer) -> None:
    with pytest.raises(ConfigError) as caught:
        load_site_config(write_site(changed("slurm", nodes="two")))
    assert caught.value.__cause__ is not None


def test_unquoted_durations_stay_text(write_site: Writer) -> None:
    text = (
        "slurm:\n  walltime: 00:10:00\n  account: 0123\njrm:\n  nodename: vk\n  site: local\n"
        "  kubeconfig: kubeconfig\n  vkubelet_pod_ips: 127.0.0.1\n"
    )
    config = load_site_config(write_site(text))
    assert config.slurm.walltime == "00:10:00"
    assert config.slurm.walltime_duration.seconds == 600
    assert config.slurm.account == "0123"


def test_integer_walltime_is_minutes(write_site: Writer) -> None:
    config = load_site_config(write_site(changed("slurm", walltime=30)))
    assert config.slurm.walltime_duration.seconds == 1800


@pytest.mark.parametrize("walltime", ["UNLIMITED", "0", 0])
def test_explicit_unlimited_accepted(write_site: Writer, walltime: Any) -> None:
    config = load_site_config(write_site(changed("slurm", walltime=walltime)))
    assert config.slurm.walltime_duration.is_unlimited


@pytest.mark.parametrize("reservation", ["", None, "absent"])
def test_unset_reservation_is_none(write_site: Writer, reservation: str | None) -> None:
    data = base_config()
    if reservation != "absent":
        data["slurm"]["reservation"] = reservation
    assert load_site_config(write_site(data)).slurm.reservation is None


def test_optional_slurm_values(write_site: Writer) -> None:
    data = changed(
        "slurm",
        constraint="cpu",
        qos="debug",
        account=1234,
        partition="debug,regular",
        job_name="vk@1",
        cpus_per_task=4,
        mem="4G",
        gpus_per_node="a100:4",
        exclusive="yes",
        extra_sbatch=["--signal=B:USR1@90", "--requeue", "--gpus=4", "--mail-type=END"],
    )
    slurm = load_site_config(write_site(data)).slurm
    assert slurm.account == "1234"
    assert slurm.gpus_per_node == "a100:4"
    assert slurm.exclusive is True
    assert slurm.extra_sbatch == ["--signal=B:USR1@90", "--requeue", "--gpus=4", "--mail-type=END"]


@pytest.mark.parametrize(("value", "expected"), [(0, 0), ("2", 2), (4, 4), ("", None), (None, None)])
def test_gpu_counts(write_site: Writer, value: Any, expected: Any) -> None:
    assert load_site_config(write_site(changed("slurm", gpus_per_node=value))).slurm.gpus_per_node == expected


@pytest.mark.parametrize(
    ("constraint", "nodetype", "expected"),
    [(None, None, "cpu"), ("gpu", None, "gpu"), ("cpu&hbm", "cpu", "cpu"), ("cpu", "big", "big")],
)
def test_nodetype_default(
    write_site: Writer, constraint: str | None, nodetype: str | None, expected: str
) -> None:
    data = base_config()
    if constraint is not None:
        data["slurm"]["constraint"] = constraint
    if nodetype is not None:
        data["jrm"]["nodetype"] = nodetype
    assert load_site_config(write_site(data)).jrm.nodetype == expected


def test_pod_ip_list_per_node(write_site: Writer) -> None:
    config = load_site_config(write_site(changed("jrm", vkubelet_pod_ips=["10.0.0.1", "10.0.0.2"])))
    assert config.jrm.vkubelet_pod_ips == ["10.0.0.1", "10.0.0.2"]


def write_executable_python(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_local_paths_expanded(write_site: Writer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_executable_python(tmp_path / "venv" / "bin" / "python")
    config = load_site_config(
        write_site(changed("jrm", kubeconfig="~/kubeconfig", python="~/venv/bin/python"))
    )
    assert config.jrm.kubeconfig == f"{tmp_path}/kubeconfig"
    assert config.jrm.work_root == f"{tmp_path}/jiriaf-fw"
    assert config.jrm.python == f"{tmp_path}/venv/bin/python"


def test_missing_kubeconfig_absolute(write_site: Writer, tmp_path: Path) -> None:
    message = load_error(write_site, changed("jrm", kubeconfig="missing-kubeconfig"))
    assert message == f"site.yaml: jrm.kubeconfig: file not found: '{tmp_path}/missing-kubeconfig'"


def test_relative_paths_follow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "kc").write_text("apiVersion: v1\n")
    python = write_executable_python(site_dir / "venv" / "bin" / "python")
    data = changed("jrm", kubeconfig="kc", python="venv/bin/python", work_root="runs/../work")
    (site_dir / "site.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)

    config = load_site_config("site/site.yaml")
    assert config.jrm.kubeconfig == f"{site_dir}/kc"
    assert config.jrm.python == str(python)
    assert config.jrm.work_root == f"{site_dir}/work"


def test_kubeconfig_in_cwd_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "site.yaml").write_text(yaml.safe_dump(changed("jrm", kubeconfig="kc")))
    (tmp_path / "kc").write_text("apiVersion: v1\n")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError) as caught:
        load_site_config("site/site.yaml")
    assert str(caught.value) == f"site/site.yaml: jrm.kubeconfig: file not found: '{site_dir}/kc'"


def test_mapping_keeps_relative_paths() -> None:
    config = site_config_from_mapping(changed("jrm", kubeconfig="kc", python="bin/python"), "inline")
    assert config.jrm.kubeconfig == "kc"
    assert config.jrm.python == "bin/python"


def test_mapping_resolves_against_config_dir() -> None:
    config = site_config_from_mapping(changed("jrm", kubeconfig="kc"), "inline", config_dir="/etc/site")
    assert config.jrm.kubeconfig == "/etc/site/kc"
    assert config.jrm.work_root.endswith("/jiriaf-fw")


def test_work_root_checked_after_join(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site_dir = tmp_path / "100%"
    site_dir.mkdir()
    (site_dir / "kubeconfig").write_text("apiVersion: v1\n")
    (site_dir / "site.yaml").write_text(yaml.safe_dump(changed("jrm", work_root="runs")))
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError) as caught:
        load_site_config("100%/site.yaml")
    assert str(caught.value) == (
        f"100%/site.yaml: jrm.work_root: invalid work root '{site_dir}/runs': "
        "use letters, digits, spaces and . _ / ~ + , @ = : -"
    )


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda path: path.write_text("#!/bin/sh\n"), "not an executable file"),
        (lambda path: path.mkdir(), "not an executable file"),
        (lambda path: None, "file not found"),
    ],
)
def test_python_must_be_executable(
    write_site: Writer, tmp_path: Path, make: Callable[[Path], object], problem: str
) -> None:
    make(tmp_path / "python")
    message = load_error(write_site, changed("jrm", python="python"))
    assert message == f"site.yaml: jrm.python: {problem}: '{tmp_path}/python'"


def test_remote_python_not_checked(write_site: Writer) -> None:
    data = remote_config()
    data["jrm"]["python"] = "venv/bin/python"
    config = load_site_config(write_site(data))
    assert config.jrm.python == "venv/bin/python"


def test_remote_paths_kept(write_site: Writer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_site_config(write_site(remote_config()))
    assert config.jrm.kubeconfig == "~/kube/config"
    assert config.jrm.work_root == "~/jiriaf-fw"
    assert config.ssh is not None
    assert config.ssh.key == f"{tmp_path}/.ssh/site"
    assert config.ssh.port == 22


def test_secret_redacted(write_site: Writer) -> None:
    data = remote_config()
    data["ssh"]["key_passphrase"] = "hunter2-secret"
    config = load_site_config(write_site(data))
    redacted = redacted_config_dict(config)
    assert redacted["ssh"]["key_passphrase"] == "**********"
    assert "hunter2-secret" not in json.dumps(redacted)
    assert "hunter2-secret" not in repr(config)
    assert "hunter2-secret" not in str(config)
    assert config.ssh is not None and config.ssh.key_passphrase is not None
    assert config.ssh.key_passphrase.get_secret_value() == "hunter2-secret"


def test_redacted_dict_is_json(write_site: Writer) -> None:
    redacted = redacted_config_dict(load_site_config(write_site(base_config())))
    assert json.loads(json.dumps(redacted)) == redacted
    assert redacted["jrm"]["kubelet_port_range"] == "10000-19999"
    assert redacted["jrm"]["metrics_port_range"] == "20000-49999"
    assert redacted["ssh"] is None


def test_port_ranges_parsed(write_site: Writer) -> None:
    config = load_site_config(
        write_site(changed("jrm", kubelet_port_range=[11000, 11999], metrics_port_range="30000-30999"))
    )
    assert config.jrm.kubelet_port_range == PortRange(11000, 11999)
    assert config.jrm.metrics_port_range == PortRange(30000, 30999)


def test_examples_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("apiVersion: v1\n")
    local = load_site_config(EXAMPLES / "local.yaml")
    perlmutter = load_site_config(EXAMPLES / "perlmutter.yaml")
    ornl = load_site_config(EXAMPLES / "ornl.yaml")
    assert (local.jrm.profile, perlmutter.jrm.profile, ornl.jrm.profile) == ("local", "perlmutter", "ornl")
    assert local.ssh is None
    assert local.jrm.kubeconfig == f"{tmp_path}/.kube/config"
    assert perlmutter.jrm.nodetype == "cpu"
    assert ornl.slurm.extra_sbatch == ["--signal=B:USR1@120"]


def test_local_example_needs_kubeconfig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        load_site_config(EXAMPLES / "local.yaml")
    assert str(caught.value) == (
        f"{EXAMPLES / 'local.yaml'}: jrm.kubeconfig: file not found: '{tmp_path}/.kube/config'"
    )


def all_models() -> list[type[BaseModel]]:
    return [SiteConfig, SlurmConfig, JrmConfig, SshConfig]


@pytest.mark.parametrize("model", all_models())
def test_models_forbid_extra_keys(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid"


@pytest.mark.parametrize("model", all_models())
def test_every_field_described(model: type[BaseModel]) -> None:
    undescribed = [name for name, field in model.model_fields.items() if not field.description]
    assert undescribed == []


def test_model_validation_is_idempotent(write_site: Writer) -> None:
    config = load_site_config(write_site(remote_config()))
    again = SiteConfig.model_validate(copy.deepcopy(config.model_dump()))
    assert again == config


def test_odd_unknown_key_quoted(write_site: Writer) -> None:
    data = base_config()
    data["slurm"]["bad\nkey"] = 1
    assert load_error(write_site, data) == f"site.yaml: slurm.'bad\\nkey': unknown key; valid keys: {SLURM_KEYS}"


def test_long_value_shortened(write_site: Writer) -> None:
    message = load_error(write_site, changed("slurm", nodes="9" * 50 + "x" * 200))
    assert message.startswith("site.yaml: slurm.nodes: expected an integer, got '99999")
    assert message.endswith("xxx...")
    assert len(message) < 200
