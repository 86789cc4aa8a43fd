"""Discovery documents (/api, /apis, the APIResourceLists) and /version.

kubectl 1.32 first requests aggregated discovery (`as=APIGroupDiscoveryList`). The double answers with the
legacy documents and a plain `application/json` content type, and kubectl then falls back to them.
"""

from __future__ import annotations

from typing import Any

from .resources import GROUP_VERSIONS, STATUS_VERBS, ResourceType, resources_in

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-jiriaf-apiserver-double",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_SUBRESOURCE_VERBS = {
    "status": STATUS_VERBS,
    "binding": ("create",),
    "log": ("get",),
}


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def _group(group: str, version: str) -> dict[str, Any]:
    group_version = {"groupVersion": f"{group}/{version}", "version": version}
    return {"name": group, "versions": [group_version], "preferredVersion": group_version}


def api_group_list() -> dict[str, Any]:
    groups = [_group(group, version) for group, version in GROUP_VERSIONS if group]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    for name, version in GROUP_VERSIONS:
        if name and name == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, version)}
    return None


def _resource_entry(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def _subresource_entry(rt: ResourceType, subresource: str) -> dict[str, Any]:
    kind = {"binding": "Binding", "log": "Pod"}.get(subresource, rt.kind)
    entry: dict[str, Any] = {
        "name": f"{rt.plural}/{subresource}",
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": kind,
        "verbs": list(_SUBRESOURCE_VERBS[subresource]),
    }
    return entry


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    types = resources_in(group, version)
    if not types:
        return None
    resources = []
    for rt in types:
        resources.append(_resource_entry(rt))
        resources.extend(_subresource_entry(rt, sub) for sub in rt.subresources)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
