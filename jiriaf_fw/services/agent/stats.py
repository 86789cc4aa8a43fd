"""Resource usage of the node, its pods and their containers, in the kubelet's Summary and Prometheus forms.

metrics-server reads either `/stats/summary` or `/metrics/resource`. It drops a point whose CPU counter or
working set is 0, and it rejects a CPU counter that goes down. So the counters here come from the runtime's
monotonic per-group CPU time, and a live container reports at least 1 ns of CPU and 1 byte of memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psutil
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from jiriaf_fw.core.kube_objects import format_time
from jiriaf_fw.services.agent.pods import PodReconciler
from jiriaf_fw.services.agent.runtime import PodRuntime
from jiriaf_fw.services.agent.walltime import Clock

# Two samples closer than this give no usable rate; the older sample is kept instead.
_MIN_RATE_WINDOW_S = 1.0


@dataclass(frozen=True)
class Usage:
    """CPU and memory of one node, pod or container at one moment."""

    cpu_ns: int
    nano_cores: int
    working_set_bytes: int
    start_time: datetime


@dataclass(frozen=True)
class ContainerSample:
    name: str
    pgid: int
    usage: Usage


@dataclass(frozen=True)
class PodSample:
    namespace: str
    name: str
    uid: str
    usage: Usage
    containers: list[ContainerSample]


@dataclass(frozen=True)
class Snapshot:
    """One measurement of everything, taken at `time`."""

    time: datetime
    node: Usage
    available_bytes: int
    pods: list[PodSample]


class UsageSampler:
    """Measures usage and turns CPU counters into `usageNanoCores` from the previous sample of each entity."""

    def __init__(self, runtime: PodRuntime, reconciler: PodReconciler, clock: Clock) -> None:
        self._runtime = runtime
        self._reconciler = reconciler
        self._clock = clock
        self._previous: dict[tuple[str, ...], tuple[float, int]] = {}

    def _rate(self, key: tuple[str, ...], cpu_ns: int, start: datetime, now: datetime) -> int:
        mono = self._clock.monotonic()
        previous = self._previous.get(key)
        if previous is not None and mono - previous[0] >= _MIN_RATE_WINDOW_S and cpu_ns >= previous[1]:
            rate = (cpu_ns - previous[1]) / (mono - previous[0])
        else:
            # First sample: the average since the start is the best estimate there is.
            elapsed = (now - start).total_seconds()
            rate = cpu_ns / elapsed if elapsed > 0 else 0.0
        if previous is None or mono - previous[0] >= _MIN_RATE_WINDOW_S or cpu_ns < previous[1]:
            self._previous[key] = (mono, cpu_ns)
        return int(rate)

    def _node_usage(self, now: datetime) -> tuple[Usage, int]:
        times = psutil.cpu_times()
        busy_s = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        memory = psutil.virtual_memory()
        boot = datetime.fromtimestamp(psutil.boot_time(), UTC)
        cpu_ns = int(busy_s * 1e9)
        usage = Usage(cpu_ns, self._rate(("node",), cpu_ns, boot, now), memory.total - memory.available, boot)
        return usage, memory.available

    def _pod_sample(self, uid: str, namespace: str, name: str, now: datetime) -> PodSample | None:
        measured = self._runtime.usage(uid)
        if not measured:
            return None
        containers = []
        for container, value in measured.items():
            # A container that has just started may not have used a full clock tick yet; 1 ns keeps its first
            # point from being dropped by metrics-server and keeps the counter monotonic.
            cpu_ns = max(1, value.cpu_ns)
            rate = self._rate((uid, container, str(value.pgid)), cpu_ns, value.start_time, now)
            usage = Usage(cpu_ns, rate, max(1, value.working_set_bytes), value.start_time)
            containers.append(ContainerSample(container, value.pgid, usage))
        pod_usage = Usage(
            cpu_ns=sum(c.usage.cpu_ns for c in containers),
            nano_cores=sum(c.usage.nano_cores for c in containers),
            working_set_bytes=sum(c.usage.working_set_bytes for c in containers),
            start_time=min(c.usage.start_time for c in containers),
        )
        return PodSample(namespace, name, uid, pod_usage, containers)

    def snapshot(self) -> Snapshot:
        """Measure the node and every started, unfinished pod of this node."""
        now = self._clock.now()
        node, available = self._node_usage(now)
        pods = []
        for record in list(self._reconciler.records.values()):
            if record.started and not record.finished:
                sample = self._pod_sample(record.uid, record.namespace, record.name, now)
                if sample is not None:
                    pods.append(sample)
        live = {("node",)} | {(p.uid, c.name, str(c.pgid)) for p in pods for c in p.containers}
        for key in [key for key in self._previous if key not in live]:
            del self._previous[key]
        return Snapshot(now, node, available, pods)


def _cpu(usage: Usage, stamp: str) -> dict:
    return {"time": stamp, "usageNanoCores": usage.nano_cores, "usageCoreNanoSeconds": usage.cpu_ns}


def _memory(usage: Usage, stamp: str) -> dict:
    ws = usage.working_set_bytes
    return {
        "time": stamp,
        "workingSetBytes": ws,
        "usageBytes": ws,
        "rssBytes": ws,
        "pageFaults": 0,
        "majorPageFaults": 0,
    }


def summary(snapshot: Snapshot, nodename: str) -> dict:
    """Build the kubelet Summary API (`/stats/summary`) document from a snapshot."""
    stamp = format_time(snapshot.time)
    node_memory = _memory(snapshot.node, stamp) | {"availableBytes": snapshot.available_bytes}
    return {
        "node": {
            "nodeName": nodename,
            "startTime": format_time(snapshot.node.start_time),
            "cpu": _cpu(snapshot.node, stamp),
            "memory": node_memory,
        },
        "pods": [
            {
                "podRef": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
                "startTime": format_time(pod.usage.start_time),
                "containers": [
                    {
                        "name": c.name,
                        "startTime": format_time(c.usage.start_time),
                        "cpu": _cpu(c.usage, stamp),
                        "memory": _memory(c.usage, stamp),
                    }
                    for c in pod.containers
                ],
                "cpu": _cpu(pod.usage, stamp),
                "memory": _memory(pod.usage, stamp),
            }
            for pod in snapshot.pods
        ],
    }


class _SnapshotCollector:
    def __init__(self, snapshot: Snapshot, nodename: str) -> None:
        self._snapshot = snapshot
        self._node = nodename

    def collect(self) -> Iterator[Metric]:
        snap, ts = self._snapshot, self._snapshot.time.timestamp()
        node_cpu = CounterMetricFamily(
            "node_cpu_usage_seconds", "Cumulative busy CPU time of the node in seconds", labels=["node"]
        )
        node_cpu.add_metric([self._node], snap.node.cpu_ns / 1e9, timestamp=ts)
        node_mem = GaugeMetricFamily(
            "node_memory_working_set_bytes", "Memory in use on the node in bytes", labels=["node"]
        )
        node_mem.add_metric([self._node], snap.node.working_set_bytes, timestamp=ts)
        pod_labels = ["node", "namespace", "pod"]
        pod_cpu = CounterMetricFamily(
            "pod_cpu_usage_seconds", "Cumulative CPU time of the pod in seconds", labels=pod_labels
        )
        pod_mem = GaugeMetricFamily(
            "pod_memory_working_set_bytes", "Working set of the pod in bytes", labels=pod_labels
        )
        labels = ["node", "container", "namespace", "pod", "pgid"]
        cpu = CounterMetricFamily(
            "container_cpu_usage_seconds",
            "Cumulative CPU time of the container's process group and its descendants in seconds",
            labels=labels,
        )
        mem = GaugeMetricFamily(
            "container_memory_working_set_bytes", "Working set of the container in bytes", labels=labels
        )
        start = GaugeMetricFamily(
            "container_start_time_seconds", "Start time of the container, Unix seconds", labels=labels
        )
        for pod in snap.pods:
            pod_cpu.add_metric([self._node, pod.namespace, pod.name], pod.usage.cpu_ns / 1e9, timestamp=ts)
            pod_mem.add_metric(
                [self._node, pod.namespace, pod.name], pod.usage.working_set_bytes, timestamp=ts
            )
            for c in pod.containers:
                values = [self._node, c.name, pod.namespace, pod.name, str(c.pgid)]
                cpu.add_metric(values, c.usage.cpu_ns / 1e9, timestamp=ts)
                mem.add_metric(values, c.usage.working_set_bytes, timestamp=ts)
                start.add_metric(values, c.usage.start_time.timestamp())
        yield from (node_cpu, node_mem, pod_cpu, pod_mem, cpu, mem, start)


def prometheus_text(snapshot: Snapshot, nodename: str) -> bytes:
    """Render a snapshot as Prometheus text format 0.0.4, the `/metrics/resource` body."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot, nodename))  # type: ignore[arg-type]
    return generate_latest(registry)
