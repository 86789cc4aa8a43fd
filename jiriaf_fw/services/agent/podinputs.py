"""What a pod needs before it starts: its ConfigMap, Secret and downward-API volume files and its env.

`fetch_pod_inputs` reads the referenced ConfigMaps and Secrets once each. The pure `build_volumes` and
`build_env` then follow kubelet's rules. Sources marked `optional` may be missing, and `items` pick and
rename keys. `envFrom` comes first and `env` overrides it, and `$(VAR)` in a value expands to an earlier
variable.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from lightkube import AsyncClient

from jiriaf_fw.adapters import kube
from jiriaf_fw.core.errors import JiriafError

Sources = dict[tuple[str, str], dict[str, bytes] | None]
"""(kind, name) -> the object's keys and bytes, or None when it does not exist."""

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_SUFFIXES = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


class PodInputsError(JiriafError):
    """A pod's ConfigMap, Secret or env reference cannot be resolved.

    `retryable` is True when the referenced object or key may still appear (kubelet keeps such a pod in
    ContainerCreating and retries); False when the pod spec itself is unusable.
    """

    def __init__(self, message: str, *, reason: str, retryable: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable


def _referenced(pod: Mapping[str, Any]) -> set[tuple[str, str]]:
    spec = pod.get("spec", {})
    refs: set[tuple[str, str]] = set()
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            refs.add(("ConfigMap", volume["configMap"].get("name", "")))
        if "secret" in volume:
            refs.add(("Secret", volume["secret"].get("secretName", "")))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                refs.add(("ConfigMap", source["configMap"].get("name", "")))
            if "secret" in source:
                refs.add(("Secret", source["secret"].get("name", "")))
    for container in spec.get("containers") or []:
        for item in container.get("envFrom") or []:
            if "configMapRef" in item:
                refs.add(("ConfigMap", item["configMapRef"].get("name", "")))
            if "secretRef" in item:
                refs.add(("Secret", item["secretRef"].get("name", "")))
        for var in container.get("env") or []:
            value_from = var.get("valueFrom") or {}
            if "configMapKeyRef" in value_from:
                refs.add(("ConfigMap", value_from["configMapKeyRef"].get("name", "")))
            if "secretKeyRef" in value_from:
                refs.add(("Secret", value_from["secretKeyRef"].get("name", "")))
    return refs


def _decoded(kind: str, obj: Mapping[str, Any]) -> dict[str, bytes]:
    if kind == "Secret":
        return {key: base64.b64decode(value) for key, value in (obj.get("data") or {}).items()}
    files = {key: value.encode() for key, value in (obj.get("data") or {}).items()}
    files.update({key: base64.b64decode(value) for key, value in (obj.get("binaryData") or {}).items()})
    return files


async def fetch_pod_inputs(client: AsyncClient, pod: Mapping[str, Any]) -> Sources:
    """Read every ConfigMap and Secret the pod references, once each; a missing one maps to None.

    Raises `KubeError` when the API server fails for another reason than "not found".
    """
    namespace = pod["metadata"]["namespace"]
    sources: Sources = {}
    for kind, name in sorted(_referenced(pod)):
        if not name:
            continue
        try:
            # The kind is "ConfigMap" or "Secret", both valid `kube.Kind` values.
            obj = await kube.get(client, kind, name, namespace)  # type: ignore[arg-type]
            sources[(kind, name)] = _decoded(kind, obj)
        except kube.KubeNotFound:
            sources[(kind, name)] = None
    return sources


def _lookup(sources: Sources, kind: str, name: str, optional: bool, namespace: str) -> dict[str, bytes]:
    found = sources.get((kind, name))
    if found is None:
        if optional:
            return {}
        raise PodInputsError(
            f'{kind.lower()} "{name}" not found in namespace {namespace}',
            reason="CreateContainerConfigError",
            retryable=True,
        )
    return found


def _select(
    files: dict[str, bytes], items: list[Mapping[str, Any]] | None, kind: str, name: str, optional: bool
) -> dict[str, bytes]:
    if not items:
        return dict(files)
    chosen = {}
    for item in items:
        key = item.get("key", "")
        if key in files:
            chosen[item.get("path") or key] = files[key]
        elif not optional:
            raise PodInputsError(
                f'couldn\'t find key {key} in {kind} "{name}"',
                reason="CreateContainerConfigError",
                retryable=True,
            )
    return chosen


def field_value(pod: Mapping[str, Any], path: str, pod_ip: str) -> str:
    """Return the downward-API value of `path` (`metadata.name`, `metadata.labels['k']`, `status.podIP`, ...).

    Raises `PodInputsError` for a path kubelet does not support.
    """
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return (meta.get(match.group(1)) or {}).get(match.group(2), "")
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": pod_ip,
        "status.hostIPs": pod_ip,
    }
    if path in simple:
        return simple[path]
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{key}="{value}"' for key, value in sorted(values.items()))
    raise PodInputsError(
        f"unsupported fieldRef fieldPath {path!r} in pod {meta.get('name')}",
        reason="CreateContainerConfigError",
        retryable=False,
    )


def build_volumes(pod: Mapping[str, Any], sources: Sources, pod_ip: str) -> dict[str, dict[str, bytes]]:
    """Return, per configMap, secret, projected or downwardAPI volume, its files and their bytes.

    NOTE: projected serviceAccountToken sources are skipped: the agent requests no tokens.
    Raises `PodInputsError` for a missing non-optional source or key.
    """
    namespace = pod["metadata"]["namespace"]
    volumes: dict[str, dict[str, bytes]] = {}
    for volume in pod.get("spec", {}).get("volumes") or []:
        files: dict[str, bytes] = {}
        parts: list[tuple[str, Mapping[str, Any], str]] = []
        if "configMap" in volume:
            parts.append(("ConfigMap", volume["configMap"], volume["configMap"].get("name", "")))
        if "secret" in volume:
            parts.append(("Secret", volume["secret"], volume["secret"].get("secretName", "")))
        for source in (volume.get("projected") or {}).get("sources") or []:
            for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                if key in source:
                    parts.append((kind, source[key], source[key].get("name", "")))
            if "downwardAPI" in source:
                files.update(_downward_files(pod, source["downwardAPI"], pod_ip))
        if "downwardAPI" in volume:
            files.update(_downward_files(pod, volume["downwardAPI"], pod_ip))
        for kind, ref, name in parts:
            optional = bool(ref.get("optional"))
            found = _lookup(sources, kind, name, optional, namespace)
            files.update(_select(found, ref.get("items"), kind, name, optional))
        if parts or "downwardAPI" in volume or "projected" in volume:
            volumes[volume["name"]] = files
    return volumes


def _downward_files(pod: Mapping[str, Any], source: Mapping[str, Any], pod_ip: str) -> dict[str, bytes]:
    files = {}
    for item in source.get("items") or []:
        if "fieldRef" in item:
            files[item["path"]] = field_value(pod, item["fieldRef"]["fieldPath"], pod_ip).encode()
    return files


def expand_references(value: str, defined: Mapping[str, str]) -> str:
    """Expand `$(NAME)` to an already defined variable and `$$` to `$`, as kubelet does for env values.

    An undefined or unterminated reference stays as written.
    """
    out: list[str] = []
    i = 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if value.startswith("$(", i):
            end = value.find(")", i + 2)
            if end != -1:
                name = value[i + 2 : end]
                out.append(defined[name] if name in defined else value[i : end + 1])
                i = end + 1
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def _quantity(text: str, where: str) -> Decimal:
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise PodInputsError(
            f"invalid resource quantity {text!r} in {where}",
            reason="CreateContainerConfigError",
            retryable=False,
        )
    try:
        return Decimal(match.group(1)) * Decimal(_SUFFIXES[match.group(2)])
    except InvalidOperation as exc:
        raise PodInputsError(
            f"invalid resource quantity {text!r} in {where}",
            reason="CreateContainerConfigError",
            retryable=False,
        ) from exc


def _resource_value(
    container: Mapping[str, Any], ref: Mapping[str, Any], allocatable: Mapping[str, str]
) -> str:
    kind, _, resource = ref.get("resource", "").partition(".")
    resources = container.get("resources") or {}
    # Like kubelet, an unset limit falls back to the node's allocatable amount.
    value = (resources.get(kind) or {}).get(resource) or (resources.get("limits") or {}).get(resource)
    value = value or allocatable.get(resource)
    if kind not in ("limits", "requests") or value is None:
        raise PodInputsError(
            f"unsupported resourceFieldRef {ref.get('resource')!r} in container {container.get('name')}",
            reason="CreateContainerConfigError",
            retryable=False,
        )
    where = f"container {container.get('name')}"
    divided = _quantity(value, where) / _quantity(ref.get("divisor") or "1", where)
    return str(math.ceil(divided))


def _env_from(container: Mapping[str, Any], sources: Sources, namespace: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in container.get("envFrom") or []:
        kind, ref = (
            ("ConfigMap", item["configMapRef"])
            if "configMapRef" in item
            else ("Secret", item.get("secretRef") or {})
        )
        found = _lookup(sources, kind, ref.get("name", ""), bool(ref.get("optional")), namespace)
        for key, value in found.items():
            name = f"{item.get('prefix', '')}{key}"
            if _ENV_NAME.match(name):
                env[name] = value.decode(errors="replace")
    return env


def _env_value(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    var: Mapping[str, Any],
    env: dict[str, str],
    sources: Sources,
    pod_ip: str,
    allocatable: Mapping[str, str],
) -> str | None:
    if "valueFrom" not in var:
        return expand_references(var.get("value", ""), env)
    value_from, namespace = var["valueFrom"], pod["metadata"]["namespace"]
    if "fieldRef" in value_from:
        return field_value(pod, value_from["fieldRef"]["fieldPath"], pod_ip)
    if "resourceFieldRef" in value_from:
        return _resource_value(container, value_from["resourceFieldRef"], allocatable)
    for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        if key in value_from:
            ref = value_from[key]
            optional = bool(ref.get("optional"))
            found = _lookup(sources, kind, ref.get("name", ""), optional, namespace)
            selected = _select(found, [{"key": ref.get("key", "")}], kind, ref.get("name", ""), optional)
            return next(iter(selected.values())).decode(errors="replace") if selected else None
    raise PodInputsError(
        f"unsupported valueFrom in env {var.get('name')!r} of container {container.get('name')}",
        reason="CreateContainerConfigError",
        retryable=False,
    )


def build_env(
    pod: Mapping[str, Any], sources: Sources, pod_ip: str, allocatable: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Return each container's resolved environment: `envFrom` first, then `env` in order.

    NOTE: service-link variables (`<SERVICE>_SERVICE_HOST`) are not added.
    Raises `PodInputsError` for a missing non-optional source or key, or an unsupported reference.
    """
    namespace = pod["metadata"]["namespace"]
    result = {}
    for container in pod.get("spec", {}).get("containers") or []:
        env = _env_from(container, sources, namespace)
        for var in container.get("env") or []:
            value = _env_value(pod, container, var, env, sources, pod_ip, allocatable)
            if value is not None:
                env[var["name"]] = value
        result[container["name"]] = env
    return result
