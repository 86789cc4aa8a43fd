"""Measure the JRM agent: time to a Ready node, pod start and finish latency, memory, and drain time.

Runs an agent process (`python -m jiriaf_fw.services.agent`) against the API-server double on
127.0.0.1, creates PODS pods whose script sleeps SLEEP_S seconds, and prints the figures. No Slurm needed.

    python bench/agent_pods.py [--pods 20] [--sleep 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from lightkube import Client, KubeConfig
from lightkube.resources.core_v1 import ConfigMap, Node, Pod

from jiriaf_fw.testing.apiserver import ApiServerDouble

NODE = "vk-bench-00000000"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pod(index: int) -> dict:
    return {
        "metadata": {"name": f"bench-{index}", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "bench", "command": ["bash", "/scripts/run.sh"],
                            "volumeMounts": [{"name": "bench", "mountPath": "/scripts"}]}],
            "volumes": [{"name": "bench", "configMap": {"name": "bench"}}],
            "nodeSelector": {"kubernetes.io/role": "agent"},
            "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Exists"}],
        },
    }


def _wait(what: str, probe, timeout_s: float = 120.0, interval_s: float = 0.05) -> float:
    started = time.monotonic()
    while not probe():
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval_s)
    return time.monotonic() - started


def _phases(client: Client) -> list[str]:
    return [pod.status.phase if pod.status else "" for pod in client.list(Pod, namespace="default")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--sleep", type=float, default=2.0, help="seconds each pod's script sleeps")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, ApiServerDouble.running_in_thread() as api:
        kubeconfig = api.write_kubeconfig(Path(tmp) / "kubeconfig")
        client = Client(KubeConfig.from_file(kubeconfig))
        env = {**os.environ, "HOME": tmp, "NODENAME": NODE, "KUBECONFIG": str(kubeconfig),
               "VKUBELET_POD_IP": "127.0.0.1", "KUBELET_PORT": str(_free_port()), "JIRIAF_WALLTIME": "0",
               "JIRIAF_NODETYPE": "cpu", "JIRIAF_SITE": "bench", "KUBELET_BIND_ADDRESS": "127.0.0.1"}
        env.pop("SLURM_JOB_ID", None)
        agent = subprocess.Popen([sys.executable, "-m", "jiriaf_fw.services.agent", "--log-level", "WARNING"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        process = psutil.Process(agent.pid)
        try:
            def ready() -> bool:
                nodes = {node.metadata.name: node for node in client.list(Node)}
                node = nodes.get(NODE)
                conditions = node.status.conditions if node and node.status else []
                return any(c.type == "Ready" and c.status == "True" for c in conditions or [])

            ready_s = _wait("node Ready", ready)
            rss_idle = process.memory_info().rss
            client.create(ConfigMap.from_dict({"metadata": {"name": "bench", "namespace": "default"},
                                               "data": {"run.sh": f"sleep {args.sleep}\n"}}))
            for index in range(args.pods):
                client.create(Pod.from_dict(_pod(index)))
            peak_rss = rss_idle

            def all_in(phases: set[str]) -> bool:
                nonlocal peak_rss
                peak_rss = max(peak_rss, process.memory_info().rss)
                current = _phases(client)
                return len(current) == args.pods and all(phase in phases for phase in current)

            running_s = _wait("all pods Running", lambda: all_in({"Running", "Succeeded"}))
            done_s = _wait("all pods Succeeded", lambda: all_in({"Succeeded"})) + running_s
            cpu_s = sum(process.cpu_times()[:2])
            stop_started = time.monotonic()
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=60)
            drain_s = time.monotonic() - stop_started
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            client.close()

    print(f"agent start to node Ready:           {ready_s:6.2f} s")
    print(f"{args.pods} pods created to all Running:  {running_s:6.2f} s")
    print(f"{args.pods} pods created to all Succeeded: {done_s:6.2f} s (each script sleeps {args.sleep:g} s)")
    print(f"finish latency beyond the sleep:     {done_s - args.sleep:6.2f} s")
    print(f"agent RSS idle / peak:               {rss_idle / 2**20:6.1f} / {peak_rss / 2**20:.1f} MiB")
    print(f"agent CPU time for the run:          {cpu_s:6.2f} s")
    print(f"SIGTERM to exit (drain):             {drain_s:6.2f} s")


if __name__ == "__main__":
    main()
