"""Rendering of job.sh and node-setup.sh: golden files, directives, quoting of hostile values, and runs.

Regenerate the golden files with `JIRIAF_REGENERATE_GOLDEN=1 pytest tests/core/test_render.py`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from itertools import count
from pathlib import Path
from typing import Any

import jinja2
import pytest

from jiriaf_fw.core import render
from jiriaf_fw.core.config import SiteConfig, site_config_from_mapping
from jiriaf_fw.core.config_sources import read_yaml_file
from jiriaf_fw.core.errors import ConfigError, RenderError, WalltimeError
from jiriaf_fw.core.naming import generate_node_names
from jiriaf_fw.core.ports import choose_free_ports
from jiriaf_fw.core.render import (
    JobScriptSpec,
    NodeSetupSpec,
    NodeSlot,
    job_script_spec_from_config,
    node_setup_spec_from_config,
    render_job_script,
    render_node_setup,
    sbatch_directives,
    shell_quote,
)
from jiriaf_fw.core.walltime import UNLIMITED, parse_duration

from .scripts import (
    STUB_CONTAINER,
    STUB_PYTHON,
    base_env,
    read_env,
    read_nul_list,
    run_script,
    wait_until,
    write_executable,
)

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
EXAMPLES = HERE.parents[1] / "examples"
FIXED_HOME = "/home/jiriaf"
SITE_PYTHON = "/opt/jiriaf-fw/venv/bin/python"
PROFILES = ["local", "perlmutter", "ornl"]


def example_config(profile: str, monkeypatch: pytest.MonkeyPatch) -> SiteConfig:
    """Load examples/<profile>.yaml with HOME fixed, so `~` expands the same on every machine."""
    monkeypatch.setenv("HOME", FIXED_HOME)
    source = str(EXAMPLES / f"{profile}.yaml")
    return site_config_from_mapping(read_yaml_file(source), f"{profile}.yaml")


def fixed_tokens() -> Any:
    numbers = count()
    return lambda: f"{0x0A1B2C3D + next(numbers):08x}"


def launch_dir(config: SiteConfig) -> str:
    return f"{FIXED_HOME}/jiriaf-fw/{config.jrm.site}/launches/fw1-launch1"


def pilot_scripts(config: SiteConfig) -> tuple[str, str]:
    """Render both scripts of a pilot the way `launch` does, with fixed names and ports."""
    nodes = config.slurm.nodes
    names = generate_node_names(config.jrm.nodename, nodes, fixed_tokens())
    kubelet_ports = choose_free_ports(config.jrm.kubelet_port_range, {10000}, nodes)
    per_node = len(config.jrm.custom_metrics_ports)
    mapped = choose_free_ports(config.jrm.metrics_port_range, set(), nodes * per_node)
    metrics = [mapped[i * per_node : (i + 1) * per_node] for i in range(nodes)]
    job = job_script_spec_from_config(config, launch_dir=launch_dir(config), default_python=SITE_PYTHON)
    setup = node_setup_spec_from_config(
        config,
        node_names=names,
        kubelet_ports=kubelet_ports,
        metrics_ports=metrics,
        log_dir=launch_dir(config),
        default_python=SITE_PYTHON,
    )
    return render_job_script(job), render_node_setup(setup)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("JIRIAF_REGENERATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.read_text() == text, f"{name} differs; see tests/core/golden/README.md to regenerate it"


def bash_syntax_errors(text: str, tmp_path: Path) -> str:
    script = tmp_path / "check.sh"
    script.write_text(text)
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    return result.stderr


def sbatch_lines(text: str, option: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"#SBATCH --{option}")]


# --- golden files and syntax -------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_golden_job_script(profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    job, _ = pilot_scripts(example_config(profile, monkeypatch))
    check_golden(f"job-{profile}.sh", job)


@pytest.mark.parametrize("profile", PROFILES)
def test_golden_node_setup(profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, setup = pilot_scripts(example_config(profile, monkeypatch))
    check_golden(f"node-setup-{profile}.sh", setup)


@pytest.mark.parametrize("profile", PROFILES)
def test_rendered_scripts_pass_bash_n(profile: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    job, setup = pilot_scripts(example_config(profile, monkeypatch))
    assert bash_syntax_errors(job, tmp_path) == ""
    assert bash_syntax_errors(setup, tmp_path) == ""


@pytest.mark.parametrize("profile", PROFILES)
def test_no_template_leftovers(profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for text in pilot_scripts(example_config(profile, monkeypatch)):
        assert "{{" not in text
        assert "{%" not in text
        assert "$${" not in text
        assert re.search(r"^#SBATCH --[a-z-]+=$", text, re.MULTILINE) is None
        assert re.search(r"^#SBATCH --[a-z-]+=''$", text, re.MULTILINE) is None


# --- directives --------------------------------------------------------------------------------------------


def config_with(**slurm: Any) -> SiteConfig:
    data = {
        "slurm": {
            "nodes": 2,
            "walltime": "00:10:00",
            "constraint": "cpu&hbm",
            "qos": "debug",
            "account": "m0000",
            **slurm,
        },
        "jrm": {
            "nodename": "vk",
            "site": "local",
            "nodetype": "cpu",
            "vkubelet_pod_ips": "127.0.0.1",
            "kubeconfig": "/k",
        },
    }
    return site_config_from_mapping(data, "site.yaml")


def job_text(config: SiteConfig) -> str:
    return render_job_script(job_script_spec_from_config(config, launch_dir="/w/l", default_python="/py"))


def test_reservation_set_gives_one_line() -> None:
    assert sbatch_lines(job_text(config_with(reservation="resv")), "reservation") == [
        "#SBATCH --reservation=resv"
    ]


@pytest.mark.parametrize("reservation", ["", None, "absent"])
def test_reservation_unset_gives_no_line(reservation: str | None) -> None:
    config = config_with() if reservation == "absent" else config_with(reservation=reservation)
    assert sbatch_lines(job_text(config), "reservation") == []


def test_unknown_slurm_key_rejected() -> None:
    with pytest.raises(
        ConfigError, match=r"^site\.yaml: slurm\.queue: unknown key; valid keys: nodes, walltime"
    ):
        config_with(queue="debug")


def test_directives_from_config() -> None:
    text = job_text(
        config_with(
            partition="regular",
            job_name="pilot",
            cpus_per_task=4,
            mem="4G",
            gpus_per_node="a100:4",
            exclusive=True,
            extra_sbatch=["--signal=B:USR1@90", "--requeue"],
        )
    )
    directives = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert directives == [
        "#SBATCH --job-name=pilot",
        "#SBATCH --nodes=2",
        "#SBATCH --time=00:10:00",
        "#SBATCH --constraint='cpu&hbm'",
        "#SBATCH --qos=debug",
        "#SBATCH --account=m0000",
        "#SBATCH --partition=regular",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=4G",
        "#SBATCH --gpus-per-node=a100:4",
        "#SBATCH --exclusive",
        "#SBATCH --signal=B:USR1@90",
        "#SBATCH --requeue",
        "#SBATCH --output=/w/l/slurm-%j.out",
        "#SBATCH --error=/w/l/slurm-%j.out",
        "#SBATCH --chdir=/w/l",
    ]


def test_default_job_name_and_no_gpus() -> None:
    text = job_text(config_with(gpus_per_node=0))
    assert sbatch_lines(text, "job-name") == ["#SBATCH --job-name=jiriaf-local"]
    assert sbatch_lines(text, "gpus-per-node") == []


def test_minimal_spec_directives() -> None:
    spec = JobScriptSpec(
        launch_dir="/w/l/", python="/py", nodes=1, walltime=UNLIMITED, reservation="", qos=""
    )
    assert sbatch_directives(spec) == [
        ("nodes", "1"),
        ("time", "UNLIMITED"),
        ("output", "/w/l/slurm-%j.out"),
        ("error", "/w/l/slurm-%j.out"),
        ("chdir", "/w/l/"),
    ]


def test_literal_pid_survives(monkeypatch: pytest.MonkeyPatch) -> None:
    job, _ = pilot_scripts(example_config("local", monkeypatch))
    assert 'echo "jiriaf-fw: batch shell $$ started the rocket' in job


def test_rocket_runs_in_background_behind_trap(monkeypatch: pytest.MonkeyPatch) -> None:
    job, _ = pilot_scripts(example_config("local", monkeypatch))
    lines = job.splitlines()
    rocket = next(
        i for i, line in enumerate(lines) if "fireworks.scripts.rlaunch_run singleshot --offline" in line
    )
    assert lines[rocket].endswith(" &")
    assert lines.index("trap 'forward_signal TERM' TERM") < rocket
    assert lines.index("trap 'forward_signal USR1' USR1") < rocket


def test_unlimited_walltime_exports_zero() -> None:
    config = config_with(walltime="UNLIMITED")
    setup = node_setup_spec_from_config(
        config,
        node_names=["vk-0a1b2c3d", "vk-0a1b2c3e"],
        kubelet_ports=[1, 2],
        log_dir="/w/l",
        default_python="/py",
    )
    assert "export JIRIAF_WALLTIME=0\n" in render_node_setup(setup)
    assert sbatch_lines(job_text(config), "time") == ["#SBATCH --time=UNLIMITED"]


def test_remote_home_paths_use_home_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    _, setup = pilot_scripts(example_config("perlmutter", monkeypatch))
    assert 'export KUBECONFIG="$HOME"/run-vk/kubeconfig/jiriaf2302\n' in setup


# --- render errors -----------------------------------------------------------------------------------------


def job_spec(**values: Any) -> JobScriptSpec:
    return JobScriptSpec(
        **{"launch_dir": "/w/l", "python": "/py", "nodes": 1, "walltime": parse_duration("10"), **values}
    )


def setup_spec(**values: Any) -> NodeSetupSpec:
    slots = (NodeSlot("vk-0a1b2c3d", 10001, "127.0.0.1"),)
    return NodeSetupSpec(
        **{
            "nodes": slots,
            "kubeconfig": "/k",
            "walltime": parse_duration("10"),
            "nodetype": "cpu",
            "site": "local",
            "python": "/py",
            "log_dir": "/w/l",
            **values,
        }
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"account": "m1\n#SBATCH --qos=x"},
            "cannot render job.sh.j2: spec.account 'm1\\n#SBATCH --qos=x' contains the control character '\\n'",
        ),
        (
            {"reservation": "r\r"},
            ("cannot render job.sh.j2: spec.reservation 'r\\r' contains the control character '\\r'"),
        ),
        (
            {"extra_sbatch": ("--comment=a\nb",)},
            "cannot render job.sh.j2: spec.extra_sbatch[0] '--comment=a\\nb' contains the control character '\\n'",
        ),
        (
            {"launch_dir": "/w/\x1bl"},
            ("cannot render job.sh.j2: spec.launch_dir '/w/\\x1bl' contains the control character '\\x1b'"),
        ),
        ({"launch_dir": "w/l"}, "cannot render job.sh.j2: launch_dir 'w/l' must be an absolute path"),
        (
            {"account": "a\\b"},
            (
                "cannot render job.sh.j2: #SBATCH --account value 'a\\\\b' contains a backslash, "
                "which sbatch would drop"
            ),
        ),
        (
            {"extra_sbatch": ("-t 10",)},
            ("cannot render job.sh.j2: invalid sbatch option '-t 10'; expected --option or --option=value"),
        ),
    ],
)
def test_job_render_errors(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_job_script(job_spec(**values))
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"site": "a\nb"},
            "cannot render node-setup.sh.j2: spec.site 'a\\nb' contains the control character '\\n'",
        ),
        (
            {"nodes": (NodeSlot("vk\n", 1, "127.0.0.1"),)},
            "cannot render node-setup.sh.j2: spec.nodes[0].nodename 'vk\\n' contains the control character '\\n'",
        ),
        ({"nodes": ()}, "cannot render node-setup.sh.j2: the pilot has no nodes"),
        (
            {"nodes": (NodeSlot("vk", 1, "127.0.0.1"), NodeSlot("vk", 2, "127.0.0.1"))},
            "cannot render node-setup.sh.j2: node names repeat in ['vk', 'vk']",
        ),
        ({"profile": "perlmutter"}, "cannot render node-setup.sh.j2: profile 'perlmutter' needs an image"),
        (
            {"profile": "cray"},
            (
                "cannot render node-setup.sh.j2: unknown profile 'cray'; expected one of local, "
                "perlmutter, ornl"
            ),
        ),
    ],
)
def test_node_setup_render_errors(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_node_setup(setup_spec(**values))
    assert str(caught.value) == message


@pytest.mark.parametrize("walltime", ["00:01:00", "00:00:30", "1"])
def test_node_setup_rejects_short_walltime(walltime: str) -> None:
    with pytest.raises(WalltimeError, match="is too short"):
        render_node_setup(setup_spec(walltime=parse_duration(walltime)))


def test_builder_checks_lengths() -> None:
    config = config_with()
    with pytest.raises(
        ValueError, match="expected 2 node names, kubelet ports and metrics port lists, got 1, 2"
    ):
        node_setup_spec_from_config(
            config, node_names=["vk-0a1b2c3d"], kubelet_ports=[1, 2], log_dir="/w", default_python="/py"
        )


@pytest.mark.parametrize("value", [None, True, 1.5, b"x"])
def test_shell_quote_rejects_non_text(value: Any) -> None:
    with pytest.raises(RenderError, match="cannot quote"):
        shell_quote(value)


def test_environment_settings() -> None:
    environment = render._ENVIRONMENT
    assert environment.undefined is jinja2.StrictUndefined
    assert environment.autoescape is False
    assert environment.filters["shq"] is shell_quote
    with pytest.raises(jinja2.UndefinedError):
        environment.from_string("{{ missing }}").render()


# --- hostile values, proven by running the scripts ---------------------------------------------------------

HOSTILE = "a b; touch pwned; $(touch pwned) `touch pwned` 'single' \"double\" $HOME \\ * & | > x"
# A backslash in a #SBATCH value is rejected at render (sbatch drops it), so job.sh gets the rest.
HOSTILE_SBATCH = HOSTILE.replace(" \\ ", " ")


def hostile_setup(tmp_path: Path) -> tuple[NodeSetupSpec, Path, Path]:
    python = write_executable(tmp_path / "bin $(touch pwned) `touch pwned`; 'q'" / 'python "x"', STUB_PYTHON)
    log_dir = tmp_path / "logs $(touch pwned) `touch pwned`; 'q' \"d\""
    log_dir.mkdir()
    slots = (
        NodeSlot("vk-0a1b2c3d", 10001, "127.0.0.1"),
        NodeSlot(
            "vk $(touch pwned) `touch pwned`; 'q'",
            10002,
            f"1.2.3.4; {HOSTILE}",
            ((2221, 20002), (1776, 20003)),
        ),
    )
    spec = NodeSetupSpec(
        nodes=slots,
        kubeconfig=f"{tmp_path}/kube {HOSTILE}",
        walltime=parse_duration("00:10:00"),
        nodetype=f"cpu&hbm {HOSTILE}",
        site=f"site {HOSTILE}",
        python=str(python),
        log_dir=str(log_dir),
    )
    return spec, python, log_dir


def test_hostile_values_arrive_verbatim(tmp_path: Path) -> None:
    spec, _, log_dir = hostile_setup(tmp_path)
    script = tmp_path / "node-setup.sh"
    script.write_text(render_node_setup(spec))
    stub_out, cwd = tmp_path / "out", tmp_path / "cwd"
    stub_out.mkdir()
    cwd.mkdir()

    result = run_script(script, base_env(stub_out, tmp_path / "home", SLURM_NODEID="1", STUB_EXIT="0"), cwd)

    assert result.returncode == 0, result.stderr
    assert list(tmp_path.rglob("pwned")) == []
    slot = spec.nodes[1]
    assert read_nul_list(stub_out / "argv") == [
        "-m",
        "jiriaf_fw.services.agent",
        "--nodename",
        slot.nodename,
        "--kubeconfig",
        spec.kubeconfig,
    ]
    env = read_env(stub_out / "env")
    assert env["NODENAME"] == slot.nodename
    assert env["KUBECONFIG"] == spec.kubeconfig
    assert env["VKUBELET_POD_IP"] == slot.vkubelet_pod_ip
    assert env["KUBELET_PORT"] == "10002"
    assert env["JIRIAF_WALLTIME"] == "540"
    assert env["JIRIAF_NODETYPE"] == spec.nodetype
    assert env["JIRIAF_SITE"] == spec.site
    assert env["JIRIAF_CUSTOM_METRICS_PORTS"] == "2221:20002,1776:20003"
    assert (log_dir / f"{slot.nodename}.log").read_text() == "stub python ran\n"


def test_hostile_job_script_runs_safely(tmp_path: Path) -> None:
    python = write_executable(tmp_path / "bin $(touch pwned) `x`; 'q'" / "python", STUB_PYTHON)
    launch = tmp_path / f"launch {HOSTILE_SBATCH}"
    launch.mkdir()
    spec = job_spec(
        launch_dir=str(launch),
        python=str(python),
        account=HOSTILE_SBATCH,
        qos="$(touch pwned)",
        job_name="`touch pwned`",
        reservation="r;touch pwned",
        extra_sbatch=("--comment=$(touch pwned)",),
    )
    text = render_job_script(spec)
    assert bash_syntax_errors(text, tmp_path) == ""
    script = tmp_path / "job.sh"
    script.write_text(text)
    stub_out = tmp_path / "out"
    stub_out.mkdir()

    result = run_script(script, base_env(stub_out, tmp_path / "home", STUB_EXIT="0"), tmp_path)

    assert result.returncode == 0, result.stderr
    assert list(tmp_path.rglob("pwned")) == []
    assert read_nul_list(stub_out / "argv") == [
        "-m",
        "fireworks.scripts.rlaunch_run",
        "singleshot",
        "--offline",
    ]
    assert (stub_out / "cwd").read_text() == f"{launch}\n"


def test_config_rejects_newline_in_directive() -> None:
    data = {
        "slurm": {"walltime": "00:10:00", "account": "m1\n#SBATCH --wrap=touch pwned"},
        "jrm": {"nodename": "vk", "site": "local", "vkubelet_pod_ips": "127.0.0.1"},
    }
    with pytest.raises(ConfigError) as caught:
        site_config_from_mapping(data, "site.yaml")
    assert str(caught.value) == "site.yaml: slurm.account: control character '\\n' is not allowed"


# --- node-setup.sh runs ------------------------------------------------------------------------------------


def local_setup(tmp_path: Path, **values: Any) -> tuple[Path, Path, NodeSetupSpec]:
    python = write_executable(tmp_path / "bin" / "python", STUB_PYTHON)
    (tmp_path / "out").mkdir()
    slots = (NodeSlot("vk-0a1b2c3d", 10001, "10.0.0.1"), NodeSlot("vk-0a1b2c3e", 10002, "10.0.0.2"))
    spec = setup_spec(nodes=slots, python=str(python), log_dir=str(tmp_path), **values)
    script = tmp_path / "node-setup.sh"
    script.write_text(render_node_setup(spec))
    return script, tmp_path / "out", spec


def test_node_setup_cleans_up_after_agent(tmp_path: Path) -> None:
    script, out, _ = local_setup(tmp_path)
    result = run_script(script, base_env(out, tmp_path, STUB_EXIT="3"), tmp_path)
    assert result.returncode == 3
    assert read_nul_list(out / "cleanup-argv") == [
        "-m", "jiriaf_fw.services.agent.cleanup", "--nodename", "vk-0a1b2c3d"]


def test_node_setup_forwards_term_to_agent(tmp_path: Path) -> None:
    script, out, _ = local_setup(tmp_path)
    process = subprocess.Popen(["bash", str(script)], env=base_env(out, tmp_path), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: (out / "ready").exists(), "the stub agent to start")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 7
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (out / "signals").read_text() == "TERM\n"
    assert (out / "cleanup-argv").exists()


def test_node_id_defaults_to_zero(tmp_path: Path) -> None:
    script, out, _ = local_setup(tmp_path)
    result = run_script(script, base_env(out, tmp_path, STUB_EXIT="0"), tmp_path)
    assert result.returncode == 0, result.stderr
    env = read_env(out / "env")
    assert (env["NODENAME"], env["KUBELET_PORT"], env["VKUBELET_POD_IP"]) == (
        "vk-0a1b2c3d",
        "10001",
        "10.0.0.1",
    )
    assert "JIRIAF_CUSTOM_METRICS_PORTS" not in env


def test_unknown_node_id_exits_2(tmp_path: Path) -> None:
    script, out, _ = local_setup(tmp_path)
    result = run_script(script, base_env(out, tmp_path, SLURM_NODEID="2", STUB_EXIT="0"), tmp_path)
    assert result.returncode == 2
    assert result.stderr == "node-setup.sh: unknown SLURM_NODEID '2'; this pilot has nodes 0 to 1\n"
    assert not (out / "argv").exists()


def test_agent_exit_status_returned(tmp_path: Path) -> None:
    script, out, _ = local_setup(tmp_path)
    result = run_script(script, base_env(out, tmp_path, SLURM_NODEID="1", STUB_EXIT="3"), tmp_path)
    assert result.returncode == 3
    assert (tmp_path / "vk-0a1b2c3e.log").read_text() == "stub python ran\n"


def test_home_relative_kubeconfig_resolved(tmp_path: Path) -> None:
    script, out, _ = local_setup(tmp_path, kubeconfig="~/kube dir/config")
    result = run_script(script, base_env(out, tmp_path / "my home", STUB_EXIT="0"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_env(out / "env")["KUBECONFIG"] == f"{tmp_path}/my home/kube dir/config"


@pytest.mark.parametrize(
    ("profile", "image", "container_argv"),
    [
        ("perlmutter", "docker:example/jiriaf-fw:0.1.0", ["--image=docker:example/jiriaf-fw:0.1.0", "--"]),
        ("ornl", "/images/jiriaf fw.sif", ["exec", "/images/jiriaf fw.sif"]),
    ],
)
def test_container_profiles_wrap_agent(
    tmp_path: Path, profile: str, image: str, container_argv: list[str]
) -> None:
    tool = "shifter" if profile == "perlmutter" else "apptainer"
    write_executable(tmp_path / "tools" / tool, STUB_CONTAINER)
    script, out, spec = local_setup(tmp_path, profile=profile, image=image)
    env = base_env(out, tmp_path, STUB_EXIT="0")
    env["PATH"] = f"{tmp_path / 'tools'}:{env['PATH']}"
    result = run_script(script, env, tmp_path)
    assert result.returncode == 0, result.stderr
    agent_argv = ["-m", "jiriaf_fw.services.agent", "--nodename", "vk-0a1b2c3d", "--kubeconfig", "/k"]
    assert read_nul_list(out / "container-argv") == [*container_argv, spec.python, *agent_argv]
    assert read_nul_list(out / "argv") == agent_argv
    cleanup_argv = ["-m", "jiriaf_fw.services.agent.cleanup", "--nodename", "vk-0a1b2c3d"]
    assert read_nul_list(out / "container-cleanup-argv") == [*container_argv, spec.python, *cleanup_argv]


# --- job.sh runs: the trap forwards signals and the job ends with the rocket's status ----------------------


def local_job(tmp_path: Path) -> tuple[Path, Path]:
    python = write_executable(tmp_path / "bin" / "python", STUB_PYTHON)
    (tmp_path / "out").mkdir()
    script = tmp_path / "job.sh"
    script.write_text(render_job_script(job_spec(launch_dir=str(tmp_path), python=str(python))))
    return script, tmp_path / "out"


@pytest.mark.parametrize("status", ["0", "3"])
def test_job_returns_rocket_status(tmp_path: Path, status: str) -> None:
    script, out = local_job(tmp_path)
    result = run_script(script, base_env(out, tmp_path, STUB_EXIT=status), tmp_path)
    assert result.returncode == int(status)
    assert f"the rocket exited with status {status}" in result.stderr


def test_job_forwards_usr1_and_term(tmp_path: Path) -> None:
    script, out = local_job(tmp_path)
    job = subprocess.Popen(
        ["bash", str(script)],
        env=base_env(out, tmp_path),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: (out / "ready").exists(), "the stub rocket to start")
        job.send_signal(signal.SIGUSR1)
        wait_until(
            lambda: (out / "signals").exists() and "USR1" in (out / "signals").read_text(),
            "USR1 to reach the rocket",
        )
        assert job.poll() is None, "job.sh must keep waiting for the rocket after USR1"

        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=30) == 7
        assert (out / "signals").read_text().split() == ["USR1", "TERM"]
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
        if (out / "ready").exists():
            rocket_pid = int((out / "ready").read_text())
            try:
                os.kill(rocket_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if job.stderr is not None:
            job.stderr.close()
