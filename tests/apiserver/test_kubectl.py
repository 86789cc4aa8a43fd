"""The real kubectl against the double: apply, get, wait, patch status, logs and delete."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from .support import AGENT_TAINT, FakeKubelet, node

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

EXAMPLE = """\
kind: ConfigMap
apiVersion: v1
metadata:
  name: direct-stress
data:
  stress.sh: |
    #!/bin/bash
    stress --timeout $1 --cpu $2
---
apiVersion: v1
kind: Pod
metadata:
  name: direct-stress
spec:
  containers:
    - name: direct-stress
      image: direct-stress
      command: ["bash", "/stress/stress.sh"]
      args: ["10", "1"]
      volumeMounts:
        - name: direct-stress
          mountPath: /stress
  volumes:
    - name: direct-stress
      configMap:
        name: direct-stress
  nodeSelector:
    kubernetes.io/role: agent
  tolerations:
    - key: "virtual-kubelet.io/provider"
      value: "mock"
      effect: "NoSchedule"
"""


class Kubectl:
    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.base = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache_dir)]

    async def run(self, *args: str, stdin: str | None = None, check: bool = True) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            *self.base, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), 60)
        code = process.returncode or 0
        if check:
            assert code == 0, f"kubectl {' '.join(args)} failed ({code}): {err.decode()}"
        return code, out.decode(), err.decode()


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig, tmp_path / "kube-cache")


async def add_agent_node(kubectl: Kubectl, port: int = 10250) -> None:
    manifest = node("vk-agent", labels={"kubernetes.io/role": "agent"}, taints=[AGENT_TAINT], kubelet_port=port)
    await kubectl.run("create", "-f", "-", stdin=json.dumps(manifest))


async def test_apply_example_without_validate_false(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "example.yaml"
    manifest.write_text(EXAMPLE)
    _, out, _ = await kubectl.run("apply", "-f", str(manifest))
    assert out.splitlines() == ["configmap/direct-stress created", "pod/direct-stress created"]

    manifest.write_text(EXAMPLE.replace("--cpu $2", "--cpu $2 --verbose"))
    _, out, _ = await kubectl.run("apply", "-f", str(manifest))
    assert "configmap/direct-stress configured" in out.splitlines()
    _, script, _ = await kubectl.run("get", "configmap", "direct-stress", "-o", "jsonpath={.data.stress\\.sh}")
    assert "--verbose" in script
    _, annotation, _ = await kubectl.run(
        "get", "configmap", "direct-stress",
        "-o", "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
    )
    assert "--verbose" in annotation


async def test_get_pods_and_nodes(kubectl: Kubectl, tmp_path: Path) -> None:
    await add_agent_node(kubectl)
    (tmp_path / "example.yaml").write_text(EXAMPLE)
    await kubectl.run("apply", "-f", str(tmp_path / "example.yaml"))
    await kubectl.run("wait", "--for=jsonpath={.spec.nodeName}=vk-agent", "pod/direct-stress", "--timeout=10s")
    _, out, _ = await kubectl.run("get", "pods")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row.split()[:4] == ["direct-stress", "0/1", "Pending", "0"]
    _, wide, _ = await kubectl.run("get", "pods", "-o", "wide")
    assert wide.splitlines()[0].split()[5:7] == ["IP", "NODE"]
    assert "vk-agent" in wide.splitlines()[1].split()
    _, nodes, _ = await kubectl.run("get", "nodes")
    assert nodes.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes.splitlines()[1].split()[:3] == ["vk-agent", "Ready", "agent"]
    _, name, _ = await kubectl.run("get", "pod", "direct-stress", "-o", "jsonpath={.spec.nodeName}")
    assert name == "vk-agent"
    _, as_yaml, _ = await kubectl.run("get", "pod", "direct-stress", "-o", "yaml")
    assert "kind: Pod" in as_yaml
    _, as_json, _ = await kubectl.run("get", "nodes", "-o", "json")
    assert json.loads(as_json)["items"][0]["metadata"]["name"] == "vk-agent"


async def test_wait_for_phase_and_delete(kubectl: Kubectl, tmp_path: Path) -> None:
    await add_agent_node(kubectl)
    (tmp_path / "example.yaml").write_text(EXAMPLE)
    await kubectl.run("apply", "-f", str(tmp_path / "example.yaml"))
    await kubectl.run("wait", "--for=jsonpath={.spec.nodeName}=vk-agent", "pod/direct-stress", "--timeout=10s")
    waiter = asyncio.create_task(kubectl.run(
        "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/direct-stress", "--timeout=20s"))
    await kubectl.run("patch", "pod", "direct-stress", "--subresource=status", "--type=merge",
                      "-p", '{"status": {"phase": "Succeeded"}}')
    _, out, _ = await waiter
    assert out.strip() == "pod/direct-stress condition met"
    _, out, _ = await kubectl.run("delete", "pod", "direct-stress", "--wait=false")
    assert out.strip() == 'pod "direct-stress" deleted'
    code, _, err = await kubectl.run("get", "pod", "direct-stress", check=False)
    assert code == 1
    assert 'pods "direct-stress" not found' in err


async def test_delete_bound_pod_stays_terminating(kubectl: Kubectl, tmp_path: Path) -> None:
    await add_agent_node(kubectl)
    (tmp_path / "example.yaml").write_text(EXAMPLE)
    await kubectl.run("apply", "-f", str(tmp_path / "example.yaml"))
    await kubectl.run("wait", "--for=jsonpath={.spec.nodeName}=vk-agent", "pod/direct-stress", "--timeout=10s")
    await kubectl.run("delete", "pod", "direct-stress", "--wait=false")
    _, out, _ = await kubectl.run("get", "pods")
    assert out.splitlines()[1].split()[2] == "Terminating"


async def test_kubectl_logs(kubectl: Kubectl, kubelet: FakeKubelet, tmp_path: Path) -> None:
    await add_agent_node(kubectl, port=kubelet.port)
    (tmp_path / "example.yaml").write_text(EXAMPLE)
    await kubectl.run("apply", "-f", str(tmp_path / "example.yaml"))
    await kubectl.run("wait", "--for=jsonpath={.spec.nodeName}=vk-agent", "pod/direct-stress", "--timeout=10s")
    _, out, _ = await kubectl.run("logs", "direct-stress", "--tail=2")
    assert out == "line 0\nline 1\n"
    assert kubelet.requests[-1] == ("/containerLogs/default/direct-stress/direct-stress", {"tailLines": "2"})


async def test_field_selector_errors(kubectl: Kubectl) -> None:
    code, _, err = await kubectl.run("get", "pods", "--field-selector", "spec.bogus=x", check=False)
    assert code == 1
    assert "field label not supported: spec.bogus" in err
    code, _, err = await kubectl.run("get", "configmaps", "--field-selector", "data.x=y", check=False)
    assert '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"' in err





async def test_apply_rejects_unknown_field(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(EXAMPLE.replace("      image: direct-stress", "      imagee: direct-stress\n      image: x"))
    code, _, err = await kubectl.run("apply", "-f", str(manifest), check=False)
    assert code == 1
    assert 'strict decoding error: unknown field "spec.containers[0].imagee"' in err
