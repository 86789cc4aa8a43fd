"""Thin helpers over `lightkube.AsyncClient` that take and return plain dicts, and the Kubernetes error types.

Callers build objects and patches with `jiriaf_fw.core.kube_objects` and `kube_pod_status`, and this
module only sends them. Every lightkube or HTTP failure leaves here as a `KubeError` subclass with the
library exception chained.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx2
from lightkube import ApiError, AsyncClient, ConfigError, KubeConfig, NotReadyError
from lightkube.core.resource import Resource
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap, Node, NodeStatus, Pod, PodStatus, Secret
from lightkube.types import PatchType

from jiriaf_fw.core.errors import JiriafError

logger = logging.getLogger(__name__)

Kind = Literal["Node", "Pod", "Lease", "ConfigMap", "Secret"]
_RESOURCES: dict[str, type[Resource]] = {
    "Node": Node,
    "Pod": Pod,
    "Lease": Lease,
    "ConfigMap": ConfigMap,
    "Secret": Secret,
}
_STATUS_RESOURCES: dict[str, type[Resource]] = {"Node": NodeStatus, "Pod": PodStatus}
FIELD_MANAGER = "jiriaf-agent"


class KubeError(JiriafError):
    """A request to the Kubernetes API server failed."""

    status_code: int | None = None


class KubeConfigError(KubeError):
    """The kubeconfig file is missing or invalid."""

    exit_code = 2


class KubeUnavailable(KubeError):
    """The API server could not be reached, or the connection broke or timed out."""


class KubeApiError(KubeError):
    """The API server returned an error status."""

    def __init__(self, message: str, status_code: int | None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.reason = reason


class KubeNotFound(KubeApiError):
    """The object does not exist (HTTP 404)."""


class KubeConflict(KubeApiError):
    """The object exists already, or changed since it was read (HTTP 409)."""


class KubeGone(KubeApiError):
    """The requested resourceVersion is too old for a watch (HTTP 410); list again."""


_BY_CODE: dict[int, type[KubeApiError]] = {404: KubeNotFound, 409: KubeConflict, 410: KubeGone}


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn lightkube and HTTP exceptions raised inside the block into `KubeError`s that name `what`."""
    try:
        yield
    except ApiError as exc:
        code = exc.status.code if exc.status is not None else None
        reason = exc.status.reason if exc.status is not None else None
        text = exc.status.message if exc.status is not None else str(exc)
        raise _BY_CODE.get(code or 0, KubeApiError)(
            f"{what} failed: HTTP {code} {text}", code, reason
        ) from exc
    except httpx2.HTTPError as exc:
        raise KubeUnavailable(f"{what} failed: {type(exc).__name__}: {exc}") from exc


def load_kubeconfig(kubeconfig: Path | None, *, missing_hint: str = "set KUBECONFIG or --kubeconfig") -> KubeConfig:
    """Load `kubeconfig`, or `$KUBECONFIG` / in-cluster / `~/.kube/config` when None.

    Raises `KubeConfigError` when the file is missing (the message ends with `missing_hint`) or invalid.
    """
    try:
        if kubeconfig is None:
            return KubeConfig.from_env()
        if not kubeconfig.is_file():
            raise KubeConfigError(f"kubeconfig {str(kubeconfig)!r} not found; {missing_hint}")
        return KubeConfig.from_file(kubeconfig)
    except (ConfigError, OSError, ValueError, KeyError) as exc:
        raise KubeConfigError(f"cannot load kubeconfig {str(kubeconfig)!r}: {exc}") from exc


def open_client(kubeconfig: Path | None) -> AsyncClient:
    """Open a client from `kubeconfig` (see `load_kubeconfig`). Raises `KubeConfigError`."""
    return AsyncClient(load_kubeconfig(kubeconfig), field_manager=FIELD_MANAGER)


def _resource(kind: str, status: bool = False) -> type[Resource]:
    return (_STATUS_RESOURCES if status else _RESOURCES)[kind]


def _name(kind: str, name: str, namespace: str | None) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def to_dict(obj: Any) -> dict:
    """Return a lightkube object as a plain JSON-ready dict."""
    return obj.to_dict()


async def get(client: AsyncClient, kind: Kind, name: str, namespace: str | None = None) -> dict:
    """Read one object. Raises `KubeNotFound` when it does not exist."""
    with translate_errors(f"get {_name(kind, name, namespace)}"):
        if namespace is None:
            return to_dict(await client.get(_resource(kind), name))
        return to_dict(await client.get(_resource(kind), name, namespace=namespace))


async def create(client: AsyncClient, manifest: Mapping[str, Any]) -> dict:
    """Create an object from a manifest. Raises `KubeConflict` when it exists already."""
    kind = manifest["kind"]
    meta = manifest["metadata"]
    with translate_errors(f"create {_name(kind, meta['name'], meta.get('namespace'))}"):
        return to_dict(await client.create(_resource(kind).from_dict(dict(manifest))))


async def replace(client: AsyncClient, manifest: Mapping[str, Any]) -> dict:
    """Replace (PUT) an object.

    With `metadata.resourceVersion` set, a concurrent change makes it raise `KubeConflict`.
    """
    kind = manifest["kind"]
    meta = manifest["metadata"]
    with translate_errors(f"replace {_name(kind, meta['name'], meta.get('namespace'))}"):
        return to_dict(await client.replace(_resource(kind).from_dict(dict(manifest))))


async def merge_patch(
    client: AsyncClient,
    kind: Kind,
    name: str,
    patch: Mapping[str, Any],
    *,
    namespace: str | None = None,
    status: bool = False,
) -> dict:
    """Send a JSON merge patch, to the `status` subresource when `status` is True; return the new object."""
    what = f"patch {_name(kind, name, namespace)}{' status' if status else ''}"
    with translate_errors(what):
        res = _resource(kind, status)
        if namespace is None:
            result = await client.patch(res, name, dict(patch), patch_type=PatchType.MERGE)
        else:
            result = await client.patch(
                res, name, dict(patch), namespace=namespace, patch_type=PatchType.MERGE
            )
        return to_dict(result)


async def delete(
    client: AsyncClient,
    kind: Kind,
    name: str,
    *,
    namespace: str | None = None,
    grace_period_s: int | None = None,
) -> None:
    """Delete an object; `grace_period_s=0` removes a pod at once. Raises `KubeNotFound` when it is gone."""
    with translate_errors(f"delete {_name(kind, name, namespace)}"):
        if namespace is None:
            await client.delete(_resource(kind), name, grace_period=grace_period_s)
        else:
            await client.delete(_resource(kind), name, namespace=namespace, grace_period=grace_period_s)


async def list_objects(
    client: AsyncClient, kind: Kind, *, namespace: str | None = None, fields: Mapping[str, str] | None = None
) -> tuple[list[dict], str]:
    """List objects across all namespaces (or one) and return them with the list's resourceVersion."""
    with translate_errors(f"list {kind} with fields {dict(fields or {})}"):
        listing = client.list(_resource(kind), namespace=namespace or "*", fields=dict(fields or {}) or None)
        items = [to_dict(obj) async for obj in listing]
    try:
        return items, listing.resourceVersion
    except NotReadyError as exc:
        raise KubeApiError(f"list {kind} returned no resourceVersion; cannot start a watch", None) from exc


async def watch_objects(
    client: AsyncClient,
    kind: Kind,
    *,
    resource_version: str,
    fields: Mapping[str, str] | None = None,
    server_timeout_s: int = 300,
) -> AsyncIterator[tuple[str, dict]]:
    """Yield `(event type, object)` from a watch across all namespaces, starting after `resource_version`.

    The request is renewed when the server closes it after `server_timeout_s`, from the last version
    seen. Raises `KubeGone` when that version has expired (list again), other `KubeError`s on failure.
    """
    stream = client.watch(
        _resource(kind),
        namespace="*",
        fields=dict(fields or {}) or None,
        resource_version=resource_version,
        server_timeout=server_timeout_s,
    )
    with translate_errors(f"watch {kind} with fields {dict(fields or {})}"):
        try:
            async for event_type, obj in stream:
                yield event_type, to_dict(obj)
        finally:
            await stream.aclose()
