"""HTTP handlers that route a request to discovery, OpenAPI or a resource verb, and encode the response."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import discovery, openapi
from .deletion import DeleteOptions, Deleter
from .errors import (
    FieldError,
    StatusError,
    bad_request,
    method_not_allowed,
    resource_not_found,
    unsupported_media_type,
)
from .http_util import json_response, negotiate, read_body, status_response, table_content_type
from .listing import list_objects, parse_bool_param
from .registry import APPLY_PATCH, SUPPORTED_PATCH_TYPES, Registry
from .routing import Target, parse_resource_path
from .schema import prune_unknown_fields
from .selectors import ObjectFilter, parse_field_selector, parse_label_selector
from .tables import metadata_only, to_table
from .watchstream import WatchSettings, serve_watch

logger = logging.getLogger(__name__)

LogHandler = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]
FIELD_VALIDATION_VALUES = ("", "Ignore", "Warn", "Strict")


class Handlers:
    """The request handler of the double's aiohttp application."""

    def __init__(self, registry: Registry, deleter: Deleter, watch_settings: WatchSettings, logs: LogHandler) -> None:
        self.registry = registry
        self.deleter = deleter
        self.watch_settings = watch_settings
        self.logs = logs

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._route(request)
        except StatusError as error:
            if error.code >= 500:
                logger.warning("%s %s failed: %s", request.method, request.path_qs, error.message)
            else:
                logger.debug("%s %s: %d %s", request.method, request.path_qs, error.code, error.message)
            return status_response(error)

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        simple = self._simple_document(path)
        if simple is not None:
            return simple
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            if parts[1] != "v1":
                raise resource_not_found()
            if len(parts) == 2:
                return json_response(discovery.api_resource_list("", "v1"))
            return await self._resource(request, parse_resource_path("", "v1", parts[2:]))
        if parts[0] == "apis" and len(parts) >= 2:
            return await self._named_group(request, parts)
        return web.Response(status=404, text="404 page not found\n")

    def _simple_document(self, path: str) -> web.StreamResponse | None:
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        documents = {
            "/version": lambda: discovery.VERSION_INFO,
            "/api": discovery.api_versions,
            "/apis": discovery.api_group_list,
            "/openapi/v3": openapi.root_document,
        }
        if path in documents:
            return json_response(documents[path]())
        if path.startswith("/openapi/v3/"):
            parts = path[len("/openapi/v3/"):].split("/")
            document = None
            if parts[0] == "api" and len(parts) == 2:
                document = openapi.group_version_document("", parts[1])
            elif parts[0] == "apis" and len(parts) == 3:
                document = openapi.group_version_document(parts[1], parts[2])
            if document is None:
                return web.Response(status=404, text="404 page not found\n")
            return json_response(document)
        if path.startswith("/openapi/"):
            return web.Response(status=404, text="404 page not found\n")
        return None

    async def _named_group(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        group = parts[1]
        if len(parts) == 2:
            document = discovery.api_group(group)
            if document is None:
                raise resource_not_found()
            return json_response(document)
        resource_list = discovery.api_resource_list(group, parts[2])
        if resource_list is None:
            raise resource_not_found()
        if len(parts) == 3:
            return json_response(resource_list)
        return await self._resource(request, parse_resource_path(group, parts[2], parts[3:]))

    # ---- resources ------------------------------------------------------------------------------------

    async def _resource(self, request: web.Request, target: Target) -> web.StreamResponse:
        if target.name is None:
            return await self._collection(request, target)
        if target.legacy_watch:
            if request.method != "GET":
                raise method_not_allowed()
            return await self._watch(request, target)
        return await self._item(request, target)

    async def _collection(self, request: web.Request, target: Target) -> web.StreamResponse:
        method = request.method
        if method == "GET":
            if target.legacy_watch or parse_bool_param(request.query.get("watch")):
                return await self._watch(request, target)
            return await self._list(request, target)
        if method == "POST" and (target.namespace is not None or not target.rt.namespaced):
            return await self._create(request, target)
        if method == "DELETE" and "deletecollection" in target.rt.verbs:
            return await self._delete_collection(request, target)
        raise method_not_allowed()

    async def _item(self, request: web.Request, target: Target) -> web.StreamResponse:
        method, sub = request.method, target.subresource
        if sub in (None, "status"):
            if method == "GET":
                return self._render_one(request, target.rt, self._get(target))
            if method == "PUT":
                return await self._update(request, target)
            if method == "PATCH":
                return await self._patch(request, target)
            if method == "DELETE" and sub is None:
                return await self._delete(request, target)
        elif sub == "binding" and method == "POST":
            assert target.name is not None
            body = await read_body(request)
            result = self.deleter.bind(target.namespace or "", target.name, body, self._dry_run(request))
            return json_response(result, 201)
        elif sub == "log" and method == "GET":
            return await self.logs(request, self._get(target))
        raise method_not_allowed()

    @staticmethod
    def _namespace(target: Target) -> str:
        return (target.namespace or "") if target.rt.namespaced else ""

    def _get(self, target: Target) -> dict[str, Any]:
        assert target.name is not None
        return self.registry.get(target.rt, self._namespace(target), target.name)

    @staticmethod
    def _dry_run(request: web.Request) -> bool:
        values = request.query.getall("dryRun", [])
        for value in values:
            if value != "All":
                raise StatusError(422, "Invalid", f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return bool(values)

    @staticmethod
    def _check_fields(request: web.Request, kind: str, obj: Any) -> list[str]:
        """Drop unknown fields from `obj`; raise 400 for them under `fieldValidation=Strict`."""
        mode = request.query.get("fieldValidation", "")
        if mode not in FIELD_VALIDATION_VALUES:
            raise bad_request(f"fieldValidation parameter unsupported: {mode}")
        if not isinstance(obj, dict):
            return []
        unknown = prune_unknown_fields(kind, obj)
        if not unknown:
            return []
        if mode == "Strict":
            fields = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: strict decoding error: {fields}')
        if mode == "Ignore":
            return []
        return [f'unknown field "{path}"' for path in unknown]

    def _selection(self, request: web.Request, target: Target) -> ObjectFilter:
        rt = target.rt
        namespace = target.namespace if rt.namespaced else None
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"), rt)
        if target.name is not None:  # a legacy watch of one object
            fields = fields + parse_field_selector(f"metadata.name={target.name}", rt)
        return ObjectFilter(rt, namespace, tuple(labels), tuple(fields))

    async def _list(self, request: web.Request, target: Target) -> web.StreamResponse:
        query = request.query
        representation = negotiate(request.headers.get("Accept"))
        selection = self._selection(request, target)
        limit = _int_param(query, "limit")
        result = await list_objects(
            self.registry.store, selection, query.get("resourceVersion"), query.get("resourceVersionMatch"),
            limit, query.get("continue") or None, parse_bool_param(query.get("sendInitialEvents")),
        )
        if representation == "table":
            include = query.get("includeObject", "Metadata")
            table = to_table(target.rt, result["items"], self.registry.clock(), include)
            table["metadata"] = result["metadata"]
            return json_response(table, content_type=table_content_type())
        if representation == "metadata":
            result = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": result["metadata"],
                      "items": [metadata_only(target.rt, item) for item in result["items"]]}
        return json_response(result)

    def _render_one(self, request: web.Request, rt: Any, obj: dict[str, Any], status: int = 200,
                    warnings: list[str] | None = None) -> web.StreamResponse:
        representation = negotiate(request.headers.get("Accept"))
        if representation == "table" and obj.get("kind") == rt.kind:
            include = request.query.get("includeObject", "Metadata")
            table = to_table(rt, [obj], self.registry.clock(), include)
            table["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return json_response(table, status, content_type=table_content_type(), warnings=warnings)
        if representation == "metadata" and obj.get("kind") == rt.kind:
            return json_response(metadata_only(rt, obj), status, warnings=warnings)
        return json_response(obj, status, warnings=warnings)

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        representation = negotiate(request.headers.get("Accept"))
        selection = self._selection(request, target)
        return await serve_watch(request, self.registry.store, selection, self.watch_settings, representation,
                                 self.registry.clock)

    async def _create(self, request: web.Request, target: Target) -> web.StreamResponse:
        body = await read_body(request)
        warnings = self._check_fields(request, target.rt.kind, body)
        created = self.registry.create(target.rt, self._namespace(target), body, self._dry_run(request))
        return self._render_one(request, target.rt, created, 201, warnings)

    async def _update(self, request: web.Request, target: Target) -> web.StreamResponse:
        assert target.name is not None
        body = await read_body(request)
        warnings = self._check_fields(request, target.rt.kind, body)
        obj, created = self.registry.update(
            target.rt, self._namespace(target), target.name, body, target.subresource == "status",
            self._dry_run(request),
        )
        return self._render_one(request, target.rt, obj, 201 if created else 200, warnings)

    async def _patch(self, request: web.Request, target: Target) -> web.StreamResponse:
        assert target.name is not None
        content_type = request.content_type
        if content_type == APPLY_PATCH:
            # NOTE: server-side apply is not implemented; kubectl's default client-side apply does not need it.
            raise unsupported_media_type(content_type, SUPPORTED_PATCH_TYPES)
        body = await read_body(request)
        warnings: list[str] = []
        obj = self.registry.patch(
            target.rt, self._namespace(target), target.name, content_type, body,
            target.subresource == "status", self._dry_run(request),
            check_fields=lambda patched: warnings.extend(self._check_fields(request, target.rt.kind, patched)),
        )
        return self._render_one(request, target.rt, obj, 200, warnings)

    async def _delete(self, request: web.Request, target: Target) -> web.StreamResponse:
        assert target.name is not None
        body = await read_body(request, allow_empty=True)
        options = DeleteOptions.parse(body, request.query.get("gracePeriodSeconds"),
                                      request.query.get("propagationPolicy"), self._dry_run(request))
        result = self.deleter.delete(target.rt, self._namespace(target), target.name, options)
        return json_response(result)

    async def _delete_collection(self, request: web.Request, target: Target) -> web.StreamResponse:
        body = await read_body(request, allow_empty=True)
        options = DeleteOptions.parse(body, request.query.get("gracePeriodSeconds"),
                                      request.query.get("propagationPolicy"), self._dry_run(request))
        selection = self._selection(request, target)
        deleted = []
        for obj in self.registry.store.list(target.rt, selection.namespace):
            if not selection.matches(obj):
                continue
            metadata = obj["metadata"]
            result = self.deleter.delete(target.rt, metadata.get("namespace") or "", metadata["name"], options)
            if result.get("kind") == target.rt.kind:
                result.pop("kind", None)
                result.pop("apiVersion", None)
                deleted.append(result)
            else:
                obj.pop("kind", None)
                obj.pop("apiVersion", None)
                deleted.append(obj)
        return json_response({"kind": target.rt.list_kind, "apiVersion": target.rt.api_version,
                              "metadata": {"resourceVersion": str(self.registry.store.resource_version)},
                              "items": deleted})


def _int_param(query: Any, name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError as error:
        raise bad_request(f"invalid {name} {value!r}: must be an integer") from error
    if number < 0:
        raise StatusError(422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: {FieldError(name, "Invalid", number, "must be greater than or equal to 0")}')
    return number
