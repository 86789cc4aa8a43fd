"""Parse request paths under /api and /apis into the resource, namespace, name and subresource they name."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import resource_not_found
from .resources import NAMESPACES, ResourceType, find_resource


@dataclass(frozen=True)
class Target:
    """The object or collection a resource path addresses. `namespace` is None for cluster-scoped kinds and for
    all-namespace lists, and `name` is None for collections."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool = False


def parse_resource_path(group: str, version: str, rest: list[str]) -> Target:
    """Parse the segments after `/api/v1` or `/apis/<group>/<version>`; raise 404 for unknown resources."""
    legacy_watch = bool(rest) and rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    if not rest or any(segment == "" for segment in rest):
        raise resource_not_found()
    if rest[0] == "namespaces" and len(rest) >= 2:
        namespace = rest[1]
        if len(rest) == 2:
            return _target(group, version, "namespaces", None, namespace, None, legacy_watch)
        if len(rest) == 3 and not group and rest[2] in NAMESPACES.subresources:
            return _target(group, version, "namespaces", None, namespace, rest[2], legacy_watch)
        plural = rest[2]
        name = rest[3] if len(rest) > 3 else None
        subresource = rest[4] if len(rest) > 4 else None
        if len(rest) > 5:
            raise resource_not_found()
        target = _target(group, version, plural, namespace, name, subresource, legacy_watch)
        if not target.rt.namespaced:
            raise resource_not_found()
        return target
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if len(rest) > 3:
        raise resource_not_found()
    target = _target(group, version, plural, None, name, subresource, legacy_watch)
    if target.rt.namespaced and name is not None:
        raise resource_not_found()
    return target


def _target(
    group: str, version: str, plural: str, namespace: str | None, name: str | None, subresource: str | None,
    legacy_watch: bool,
) -> Target:
    rt = find_resource(group, version, plural)
    if rt is None:
        raise resource_not_found()
    if subresource is not None and subresource not in rt.subresources:
        raise resource_not_found()
    return Target(rt, namespace, name, subresource, legacy_watch)
