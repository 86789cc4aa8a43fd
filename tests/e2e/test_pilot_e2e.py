"""End to end: add_wf, launch on the real local Slurm, the agent joins the API server, pods run, delete_wf.

Needs the local Slurm of `scripts/dev.sh slurm-start` (nodes n1 and n2) and kubectl. The API server is the
package's double, started in this process; the agents reach it through the kubeconfig it writes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from lightkube.resources.core_v1 import Node, Pod

from jiriaf_fw.testing.apiserver import ApiServerDouble
from tests.e2e.helpers import (
    STRESS_EXAMPLE,
    cli,
    cli_json,
    failing_pod_manifest,
    get_or_none,
    kube_client,
    kubectl,
    log_tails,
    node_ready,
    pgid_alive,
    wait_for,
    write_site_config,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slurm, pytest.mark.kubectl]

NODE_READY_TIMEOUT_S = 90
POD_TIMEOUT_S = 90


@pytest.fixture()
def world(tmp_path: Path, slurm_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """An API server double, a kubeconfig, a private launchpad and HOME, and the CLI's environment."""
    with ApiServerDouble.running_in_thread() as api:
        kubeconfig = tmp_path / "kubeconfig"
        api.write_kubeconfig(kubeconfig)
        user_home = tmp_path / "home"
        user_home.mkdir()
        env = {
            **os.environ,
            **slurm_env,
            "HOME": str(user_home),
            "JIRIAF_FW_HOME": str(tmp_path / "launchpad"),
        }
        env.pop("JIRIAF_FW_LAUNCHPAD", None)
        yield {"api": api, "kubeconfig": kubeconfig, "env": env, "home": user_home, "tmp": tmp_path,
               "work": tmp_path / "work"}


def _add_and_launch(world: dict[str, Any], nodes: int, site: str) -> tuple[int, list[str], str]:
    config = write_site_config(world["tmp"] / f"{site}.yaml", nodes=nodes, kubeconfig=world["kubeconfig"],
                               work_root=world["work"], nodename="vk-e2e", site=site)
    added = cli_json(["add_wf", str(config)], world["env"])
    names = [node["nodename"] for node in added["nodes"]]
    assert len(names) == nodes
    launched = cli_json(["launch", "--site", site], world["env"])
    assert [entry["fw_id"] for entry in launched] == [added["fw_id"]]
    return added["fw_id"], names, launched[0]["job_id"]


def _wait_nodes_ready(world: dict[str, Any], names: list[str]) -> None:
    client = kube_client(world["kubeconfig"])
    for name in names:
        wait_for(f"node {name} Ready", lambda n=name: (node := get_or_none(client, Node, n)) and node_ready(node),
                 NODE_READY_TIMEOUT_S, diagnose=lambda: log_tails(world["work"]))


def _wait_pod_phase(world: dict[str, Any], name: str, phases: tuple[str, ...]) -> Any:
    client = kube_client(world["kubeconfig"])

    def phase_reached() -> Any:
        pod = get_or_none(client, Pod, name, "default")
        return pod if pod is not None and pod.status is not None and pod.status.phase in phases else None

    return wait_for(f"pod {name} in {phases}", phase_reached, POD_TIMEOUT_S,
                    diagnose=lambda: log_tails(world["work"]))


def _run_long_stress(world: dict[str, Any], seconds: int) -> int:
    """Apply the paper's stress pod running for `seconds`, wait until it runs, and return its pgid."""
    long_run = STRESS_EXAMPLE.read_text(encoding="utf-8").replace('args: ["10", "1"]', f'args: ["{seconds}", "1"]')
    manifest = world["tmp"] / "long.yaml"
    manifest.write_text(long_run, encoding="utf-8")
    kubectl(["apply", "-f", str(manifest)], world["kubeconfig"])
    _wait_pod_phase(world, "direct-stress", ("Running",))
    pgid_file = world["home"] / "default" / "direct-stress" / "containers" / "direct-stress" / "pgid"
    return int(wait_for("pgid file", lambda: pgid_file.is_file() and pgid_file.read_text().strip(), 30))


def test_one_node_pilot_runs_paper_pod(world: dict[str, Any]) -> None:
    env, kubeconfig = world["env"], world["kubeconfig"]
    fw_id, names, job_id = _add_and_launch(world, nodes=1, site="e2e-one")
    _wait_nodes_ready(world, names)

    node = kube_client(kubeconfig).get(Node, names[0])
    assert node.metadata.labels["jiriaf.site"] == "e2e-one"
    assert node.metadata.labels["jiriaf.nodetype"] == "cpu"
    assert int(node.metadata.labels["jiriaf.alivetime"]) > 0

    stress = STRESS_EXAMPLE.read_text(encoding="utf-8").replace('args: ["10", "1"]', 'args: ["2", "1"]')
    manifest = world["tmp"] / "stress.yaml"
    manifest.write_text(stress, encoding="utf-8")
    kubectl(["apply", "-f", str(manifest)], kubeconfig)
    pod = _wait_pod_phase(world, "direct-stress", ("Succeeded", "Failed"))
    assert pod.status.phase == "Succeeded"
    assert pod.spec.nodeName == names[0]
    assert pod.status.containerStatuses[0].state.terminated.exitCode == 0

    container_dir = world["home"] / "default" / "direct-stress" / "containers" / "direct-stress"
    assert (container_dir / "stress" / "stress.sh").read_text().startswith("#!/bin/bash")
    pgid = int((container_dir / "pgid").read_text())
    assert not pgid_alive(pgid)
    logs = kubectl(["logs", "direct-stress"], kubeconfig).stdout
    assert "successful run completed" in logs

    failing = world["tmp"] / "fail.yaml"
    failing.write_text(failing_pod_manifest("exit-seven", 7), encoding="utf-8")
    kubectl(["apply", "-f", str(failing)], kubeconfig)
    failed = _wait_pod_phase(world, "exit-seven", ("Succeeded", "Failed"))
    assert failed.status.phase == "Failed"
    assert failed.status.containerStatuses[0].state.terminated.exitCode == 7

    listed = {view["fw_id"]: view for view in cli_json(["get_wf"], env)}
    assert listed[fw_id]["job_id"] == job_id
    assert listed[fw_id]["job_state"] == "RUNNING"
    assert listed[fw_id]["fw_state"] in ("RESERVED", "RUNNING")
    assert listed[fw_id]["nodes"] == names

    deleted = cli_json(["delete_wf", str(fw_id)], env)
    assert deleted[0]["already_deleted"] is False
    assert deleted[0]["job_state"] in ("CANCELLED", "COMPLETED")
    assert deleted[0]["nodes_deleted"] == names
    assert get_or_none(kube_client(kubeconfig), Node, names[0]) is None
    assert cli_json(["get_wf"], env) == []

    again = cli(["delete_wf", str(fw_id)], env)
    assert "already deleted" in again.stdout
    never = cli(["delete_wf", "999"], env, check=False)
    assert never.returncode != 0
    assert never.stderr.strip() == (
        f"error: no pilot with fw_id 999 was ever added on launchpad {world['tmp'] / 'launchpad' / 'launchpad.json'}; "
        "see jiriaf-fw get_wf for the existing ids")


def test_two_node_pilot_registers_two_nodes(world: dict[str, Any]) -> None:
    env = world["env"]
    fw_id, names, _ = _add_and_launch(world, nodes=2, site="e2e-two")
    _wait_nodes_ready(world, names)
    client = kube_client(world["kubeconfig"])
    ports = {client.get(Node, name).status.daemonEndpoints.kubeletEndpoint.Port for name in names}
    assert len(ports) == 2

    pgid = _run_long_stress(world, seconds=300)
    assert pgid_alive(pgid)

    deleted = cli_json(["delete_wf", str(fw_id)], env)
    assert sorted(deleted[0]["nodes_deleted"]) == sorted(names)
    for name in names:
        assert get_or_none(client, Node, name) is None
    assert not pgid_alive(pgid)


def test_get_wf_shows_job_ended_outside(world: dict[str, Any]) -> None:
    env = world["env"]
    fw_id, names, job_id = _add_and_launch(world, nodes=1, site="e2e-lost")
    _wait_nodes_ready(world, names)

    subprocess.run(["scancel", job_id], env=env, check=True, timeout=30)
    listed = wait_for(
        f"get_wf to show Slurm job {job_id} ended",
        lambda: next((view for view in cli_json(["get_wf"], env)
                      if view["fw_id"] == fw_id and view["job_state"] == "CANCELLED"), None),
        60, diagnose=lambda: log_tails(world["work"]))
    assert listed["fw_state"] == "FIZZLED"
    assert listed["time_left"] is None

    deleted = cli_json(["delete_wf", str(fw_id)], env)
    assert deleted[0]["nodes_deleted"] == names


def test_agent_stops_at_walltime_margin(world: dict[str, Any]) -> None:
    # A 2-minute job: the agent's deadline is the job's end minus 60 s, so it drains about a minute in,
    # well before Slurm's own limit would kill it.
    env, kubeconfig = world["env"], world["kubeconfig"]
    config = write_site_config(world["tmp"] / "short.yaml", nodes=1, kubeconfig=kubeconfig,
                               work_root=world["work"], nodename="vk-e2e", site="e2e-short", walltime="00:02:00")
    added = cli_json(["add_wf", str(config)], env)
    name = added["nodes"][0]["nodename"]
    job_id = cli_json(["launch", "--site", "e2e-short"], env)[0]["job_id"]
    _wait_nodes_ready(world, [name])

    pgid = _run_long_stress(world, seconds=600)

    client = kube_client(kubeconfig)
    wait_for(f"node {name} NotReady", lambda: not node_ready(client.get(Node, name)), 120,
             diagnose=lambda: log_tails(world["work"]))
    node = client.get(Node, name)
    assert node.spec.unschedulable is True
    ready = next(condition for condition in node.status.conditions if condition.type == "Ready")
    assert ready.reason == "WalltimeExpired"

    pod = _wait_pod_phase(world, "direct-stress", ("Failed",))
    assert pod.status.reason == "NodeWalltimeExpired"
    assert not pgid_alive(pgid)
    job = wait_for(f"Slurm job {job_id} to end", lambda: next(
        (view for view in cli_json(["get_wf"], env) if view["job_state"] not in ("RUNNING", "PENDING")), None), 60)
    # The agent left on its own, before Slurm's time limit, so the rocket completed normally.
    assert job["job_state"] == "COMPLETED"
    assert job["fw_state"] == "COMPLETED"
    cli(["delete_wf", str(added["fw_id"])], env)


def test_killed_agent_leaves_no_pods(world: dict[str, Any]) -> None:
    env = world["env"]
    fw_id, names, _ = _add_and_launch(world, nodes=1, site="e2e-kill")
    _wait_nodes_ready(world, names)
    pgid = _run_long_stress(world, seconds=600)

    agents = [process for process in psutil.process_iter(["cmdline"])
              if "jiriaf_fw.services.agent" in (process.info["cmdline"] or []) and names[0] in process.info["cmdline"]]
    assert len(agents) == 1
    agents[0].kill()

    wait_for(f"pod group {pgid} to end after the agent was killed", lambda: not pgid_alive(pgid), 30,
             diagnose=lambda: log_tails(world["work"]))
    listed = wait_for("the pilot to end", lambda: next(
        (view for view in cli_json(["get_wf"], env) if view["fw_id"] == fw_id and view["job_state"] != "RUNNING"),
        None), 60)
    assert listed["fw_state"] == "FIZZLED"
    deleted = cli_json(["delete_wf", str(fw_id)], env)
    assert deleted[0]["nodes_deleted"] == names
