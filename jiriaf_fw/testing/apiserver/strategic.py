"""Strategic merge patch for the built-in kinds the double serves.

Lists merge by the keys the Kubernetes Go types declare (`patchStrategy:"merge"` with `patchMergeKey`):
containers by name, volumes by name, env by name, volumeMounts by mountPath, ports by containerPort,
conditions by type, node addresses by type, and so on; other lists are replaced. The directives `$patch`
(`replace`, `delete`, `merge`), `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`
are honoured.
"""

from __future__ import annotations

import copy
from typing import Any

from .patch import PatchError

Path = tuple[str, ...]
PRIMITIVE = ""  # merge strategy of a list of scalars (a set union)

_CONTAINER_LISTS: dict[str, str] = {
    "ports": "containerPort",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "resizePolicy": "resourceName",
}
_POD_SPEC_LISTS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "schedulingGates": "name",
}
_METADATA_LISTS: dict[str, str] = {"finalizers": PRIMITIVE, "ownerReferences": "uid"}


def _build_merge_keys() -> dict[str, dict[Path, str]]:
    metadata = {("metadata", key): value for key, value in _METADATA_LISTS.items()}
    pod: dict[Path, str] = dict(metadata)
    for key, value in _POD_SPEC_LISTS.items():
        pod[("spec", key)] = value
    for container_list in ("containers", "initContainers", "ephemeralContainers"):
        for key, value in _CONTAINER_LISTS.items():
            pod[("spec", container_list, key)] = value
    pod.update({("status", "conditions"): "type", ("status", "podIPs"): "ip", ("status", "hostIPs"): "ip",
                ("status", "resourceClaimStatuses"): "name"})
    node: dict[Path, str] = dict(metadata)
    node.update({("spec", "podCIDRs"): PRIMITIVE, ("status", "conditions"): "type",
                 ("status", "addresses"): "type"})
    namespace: dict[Path, str] = dict(metadata)
    namespace[("status", "conditions")] = "type"
    return {"Pod": pod, "Node": node, "Namespace": namespace}


_MERGE_KEYS = _build_merge_keys()
_RETAIN_KEYS_PATHS = {("spec", "volumes")}
_DEFAULT_KEYS = {("metadata", key): value for key, value in _METADATA_LISTS.items()}


def strategic_merge_patch(original: dict[str, Any], patch: Any, kind: str) -> dict[str, Any]:
    """Apply a strategic merge patch to an object of `kind`; raise `PatchError` when it is malformed."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    merge_keys = _MERGE_KEYS.get(kind, _DEFAULT_KEYS)
    result = _merge_map(original, patch, (), merge_keys)
    if result is None:
        raise PatchError("a strategic merge patch may not delete the whole object")
    return result


def _merge_map(original: Any, patch: dict[str, Any], path: Path, keys: dict[Path, str]) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip_directives(patch, path, keys)
    if directive not in (None, "merge"):
        raise PatchError(f"Unknown patch type: {directive}")
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
        elif key.startswith("$deleteFromPrimitiveList/"):
            field_name = key.split("/", 1)[1]
            if not isinstance(value, list):
                raise PatchError(f"invalid patch: {key} must be a list")
            result[field_name] = [item for item in result.get(field_name) or [] if item not in value]
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _merge_map(result.get(key), value, path + (key,), keys)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, path + (key,), keys)
        else:
            result[key] = copy.deepcopy(value)
    _apply_retain_keys(result, patch.get("$retainKeys"), path)
    for field_name, order in orders.items():
        if isinstance(result.get(field_name), list):
            result[field_name] = _apply_order(result[field_name], order, keys.get(path + (field_name,)))
    return result


def _apply_retain_keys(result: dict[str, Any], retain: Any, path: Path) -> None:
    if retain is None:
        return
    if not isinstance(retain, list):
        raise PatchError(f"invalid patch: $retainKeys at {'.'.join(path) or 'the root'} must be a list")
    for key in list(result):
        if key not in retain:
            del result[key]


def _strip_directives(value: Any, path: Path, keys: dict[Path, str]) -> Any:
    if isinstance(value, dict):
        return {
            key: _strip_directives(item, path + (key,), keys)
            for key, item in value.items()
            if not key.startswith("$")
        }
    if isinstance(value, list):
        return [
            _strip_directives(item, path, keys)
            for item in value
            if not (isinstance(item, dict) and item.get("$patch") == "replace")
        ]
    return copy.deepcopy(value)


def _merge_list(original: Any, patch: list[Any], path: Path, keys: dict[Path, str]) -> list[Any]:
    merge_key = keys.get(path)
    if merge_key is None:
        return _strip_directives(patch, path, keys)
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return _strip_directives(patch, path, keys)
    result = copy.deepcopy(original) if isinstance(original, list) else []
    if merge_key == PRIMITIVE:
        for item in patch:
            if item not in result:
                result.append(copy.deepcopy(item))
        return result
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"invalid patch: the list at {'.'.join(path)} must contain objects")
        if merge_key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}")
        index = next(
            (i for i, existing in enumerate(result)
             if isinstance(existing, dict) and existing.get(merge_key) == item[merge_key]),
            None,
        )
        if item.get("$patch") == "delete":
            result = [e for e in result if not (isinstance(e, dict) and e.get(merge_key) == item[merge_key])]
            continue
        merged = _merge_map(result[index] if index is not None else {}, item, path, keys)
        if merged is None:
            continue
        if index is None:
            result.append(merged)
        else:
            result[index] = merged
    return result


def _apply_order(items: list[Any], order: Any, merge_key: str | None) -> list[Any]:
    """Order `items` as `$setElementOrder` lists them; items it does not list keep their order at the end."""
    if not isinstance(order, list):
        raise PatchError("invalid patch: $setElementOrder must be a list")
    def identity(item: Any) -> Any:
        if merge_key and isinstance(item, dict):
            return item.get(merge_key)
        return item
    wanted = [identity(entry) if isinstance(entry, dict) else entry for entry in order]
    listed = [item for key in wanted for item in items if identity(item) == key]
    rest = [item for item in items if identity(item) not in wanted]
    return listed + rest
