"""OpenAPI v3 documents, enough for `kubectl apply` to validate and patch without `--validate=false`.

kubectl 1.32 reads `/openapi/v3`, then the group-version document of the object's kind, and needs there a
collection path whose `patch` operation carries `x-kubernetes-group-version-kind` and a `fieldValidation`
parameter. The patch operation advertises no strategic-merge-patch body, so kubectl computes strategic merge
patches from its compiled-in Go types, which carry every built-in kind's merge keys. These schemas carry no
merge keys, only `x-kubernetes-preserve-unknown-fields`. /openapi/v2 is not served (404).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .resources import GROUP_VERSIONS, ResourceType, resources_in

_PATCH_CONTENT_TYPES = ("application/json-patch+json", "application/merge-patch+json")


def _schema_name(rt: ResourceType) -> str:
    if rt.group:
        return f"io.k8s.api.{rt.group.split('.')[0]}.{rt.version}.{rt.kind}"
    return f"io.k8s.api.core.{rt.version}.{rt.kind}"


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _parameters() -> list[dict[str, Any]]:
    names = ("dryRun", "fieldManager", "fieldValidation", "force")
    return [{"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": True} for name in names]


def _item_path(rt: ResourceType) -> str:
    base = f"/{rt.group_version_path}"
    if rt.namespaced:
        return f"{base}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
    return f"{base}/{rt.plural}/{{name}}"


def _collection_path(rt: ResourceType) -> str:
    base = f"/{rt.group_version_path}"
    if rt.namespaced:
        return f"{base}/namespaces/{{namespace}}/{rt.plural}"
    return f"{base}/{rt.plural}"


def _operations(rt: ResourceType) -> dict[str, dict[str, Any]]:
    reference = {"$ref": f"#/components/schemas/{_schema_name(rt)}"}
    response = {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}}
    extension = {"x-kubernetes-group-version-kind": _gvk(rt)}
    patch_body = {"content": {ct: {"schema": {"type": "object"}} for ct in _PATCH_CONTENT_TYPES}, "required": True}
    item = {
        "get": {"operationId": f"read{rt.kind}", "responses": response, **extension},
        "put": {"operationId": f"replace{rt.kind}", "parameters": _parameters(),
                "requestBody": {"content": {"application/json": {"schema": reference}}}, "responses": response,
                **extension},
        "patch": {"operationId": f"patch{rt.kind}", "parameters": _parameters(), "requestBody": patch_body,
                  "responses": response, **extension},
        "delete": {"operationId": f"delete{rt.kind}", "responses": response, **extension},
    }
    collection = {
        "get": {"operationId": f"list{rt.kind}", "responses": response, **extension},
        "post": {"operationId": f"create{rt.kind}", "parameters": _parameters(),
                 "requestBody": {"content": {"application/json": {"schema": reference}}}, "responses": response,
                 **extension},
    }
    return {_item_path(rt): item, _collection_path(rt): collection}


def group_version_document(group: str, version: str) -> dict[str, Any] | None:
    """Return the OpenAPI v3 document of one group-version, or None when the double does not serve it."""
    types = resources_in(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in types:
        paths.update(_operations(rt))
        schemas[_schema_name(rt)] = {
            "type": "object",
            "description": f"{rt.kind} (schema not modelled by the API-server double; unknown fields are kept)",
            "x-kubernetes-group-version-kind": [_gvk(rt)],
            "x-kubernetes-preserve-unknown-fields": True,
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _path_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root_document() -> dict[str, Any]:
    """Return the `/openapi/v3` index naming one document per group-version."""
    paths = {}
    for group, version in GROUP_VERSIONS:
        document = group_version_document(group, version)
        digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32].upper()
        key = _path_key(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}
