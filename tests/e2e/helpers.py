"""Helpers of the end-to-end tests: run the CLI as a user would, and wait for Kubernetes state."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import psutil
import yaml
from lightkube import ApiError, Client, KubeConfig

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
STRESS_EXAMPLE = REPO / "examples" / "direct-stress.yaml"


def cli(args: list[str], env: Mapping[str, str], *, check: bool = True, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    """Run `jiriaf-fw ARGS` in a subprocess with `env`; with `check`, fail the test on a non-zero exit."""
    result = subprocess.run([sys.executable, "-m", "jiriaf_fw.cli", *args], env=dict(env), capture_output=True,
                            text=True, timeout=timeout_s, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"jiriaf-fw {' '.join(args)} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


def cli_json(args: list[str], env: Mapping[str, str]) -> Any:
    """Run `jiriaf-fw ARGS --json` and return the parsed stdout."""
    return json.loads(cli([*args, "--json"], env).stdout)


def kubectl(args: list[str], kubeconfig: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real kubectl against the kubeconfig."""
    result = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                            timeout=60, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float, *, diagnose: Callable[[], str] = str) -> T:
    """Poll `probe` until it returns a value other than None or False; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}\n{diagnose()}")
        time.sleep(0.3)


def kube_client(kubeconfig: Path) -> Client:
    """A lightkube client for the kubeconfig."""
    return Client(KubeConfig.from_file(kubeconfig))


def get_or_none(client: Client, resource: type, name: str, namespace: str | None = None) -> Any:
    """Return the object, or None when the API server returns 404."""
    try:
        if namespace is None:
            return client.get(resource, name)
        return client.get(resource, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise


def node_ready(node: Any) -> bool:
    """True when the Node's Ready condition is True."""
    conditions = (node.status.conditions or []) if node.status else []
    return any(condition.type == "Ready" and condition.status == "True" for condition in conditions)


def free_port_run(count: int) -> int:
    """Return the first of `count` consecutive TCP ports that are free on this machine right now.

    Each test has its own launchpad, whose port registry starts from the same range. So agents of earlier
    tests could still hold the default ports, while a run the kernel just handed out is most likely free.
    """
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("", 0))
            first = probe.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            sockets = []
            for port in range(first, first + count):
                held = socket.socket()
                sockets.append(held)
                held.bind(("", port))
        except OSError:
            continue
        finally:
            for held in sockets:
                held.close()
        return first
    raise AssertionError(f"found no {count} consecutive free ports")


def write_site_config(path: Path, *, nodes: int, kubeconfig: Path, work_root: Path, nodename: str,
                      site: str, walltime: str = "00:10:00") -> Path:
    """Write a local site config like examples/local.yaml, pointing at the test's API server and folders."""
    # One kubelet port and one custom-metrics port per node, all in one free run.
    first_port = free_port_run(2 * nodes)
    config = {
        "slurm": {"nodes": nodes, "walltime": walltime, "partition": "debug"},
        "jrm": {
            "nodename": nodename,
            "site": site,
            "kubeconfig": str(kubeconfig),
            "vkubelet_pod_ips": "127.0.0.1",
            "custom_metrics_ports": [2221],
            "work_root": str(work_root),
            "kubelet_port_range": f"{first_port}-{first_port + nodes - 1}",
            "metrics_port_range": f"{first_port + nodes}-{first_port + 2 * nodes - 1}",
        },
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def log_tails(folder: Path, lines: int = 40) -> str:
    """The last lines of every *.log and slurm-*.out file below `folder`, for failure messages."""
    parts = []
    for file in sorted([*folder.rglob("*.log"), *folder.rglob("slurm-*.out")]):
        text = file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        parts.append(f"----- {file} -----\n" + "\n".join(text))
    return "\n".join(parts) or f"(no logs under {folder})"


def pgid_alive(pgid: int) -> bool:
    """True when a process of group `pgid` is still running; zombies do not count.

    In a container whose PID 1 does not reap orphans, killed processes stay zombies, and `killpg(pgid, 0)`
    would still succeed for them.
    """
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return False


def failing_pod_manifest(name: str, exit_code: int) -> str:
    """A ConfigMap and Pod whose script writes to stdout and exits with `exit_code`."""
    documents = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
         "data": {"fail.sh": f"#!/bin/bash\necho about to fail\nexit {exit_code}\n"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
         "spec": {
             "restartPolicy": "Never",
             "containers": [{"name": "main", "image": name, "command": ["bash", "/scripts/fail.sh"],
                             "volumeMounts": [{"name": name, "mountPath": "/scripts"}]}],
             "volumes": [{"name": name, "configMap": {"name": name}}],
             "nodeSelector": {"kubernetes.io/role": "agent"},
             "tolerations": [{"key": "virtual-kubelet.io/provider", "value": "mock", "effect": "NoSchedule"}],
         }},
    ]
    return yaml.safe_dump_all(documents, sort_keys=False)
