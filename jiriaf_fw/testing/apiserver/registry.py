"""Create, update and patch with kube-apiserver's semantics, on top of the store.

This is where metadata is filled in (uid, creationTimestamp, generateName), where resourceVersion
preconditions are checked, and where the per-kind strategies run. Deletion and binding live in `deletion.py`.
"""

from __future__ import annotations

import copy
import datetime
import time
import uuid
from collections.abc import Callable
from typing import Any

from . import strategies
from .errors import (
    StatusError,
    already_exists,
    bad_request,
    invalid,
    not_found,
    stale_conflict,
    unsupported_media_type,
)
from .patch import PatchError, json_patch, merge_patch
from .resources import CONFIGMAPS, NAMESPACES, ResourceType
from .schema import fill_zero_values
from .store import Store
from .strategic import strategic_merge_patch
from .timefields import normalize_times

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
PLACEHOLDER_CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
SUPPORTED_PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH]


def format_time(seconds: float) -> str:
    """Format a Unix time as a Kubernetes `Time` (RFC 3339, whole seconds, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_time(text: str) -> float:
    """Parse a Kubernetes `Time` or `MicroTime` (RFC 3339 in UTC) into a Unix time."""
    stamp = datetime.datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return stamp.timestamp()


class Registry:
    """The REST semantics shared by the HTTP handlers and the binder."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time, *,
                 publish_root_ca: bool = True) -> None:
        self.store = store
        self.clock = clock
        self.publish_root_ca = publish_root_ca

    def now(self) -> str:
        return format_time(self.clock())

    # ---- reads ------------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt, namespace if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt, name)
        return obj

    def require_namespace(self, rt: ResourceType, namespace: str) -> None:
        """Reject a request for a namespaced object in a namespace that does not exist (NamespaceLifecycle)."""
        if rt.namespaced and not self.store.exists(NAMESPACES, "", namespace):
            raise not_found(NAMESPACES, namespace)

    # ---- create -----------------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Any, dry_run: bool = False) -> dict[str, Any]:
        """Create an object from a request body; return the stored object (not stored when `dry_run`)."""
        obj = self._check_body(rt, body)
        metadata = obj["metadata"]
        if rt.namespaced:
            if metadata.get("namespace") and metadata["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        if metadata.get("resourceVersion"):
            raise StatusError(500, "", "resourceVersion should not be set on objects to be created")
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + strategies.random_suffix()
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            metadata.pop(key, None)
        strategies.prepare_for_create(rt, obj)
        fill_zero_values(rt.kind, obj)
        normalize_times(rt.kind, obj)
        errors = strategies.validate(rt, obj)
        if errors:
            raise invalid(rt, metadata.get("name") or "", errors)
        self.require_namespace(rt, namespace)
        if self.store.exists(rt, metadata.get("namespace") or "", metadata["name"]):
            raise already_exists(rt, metadata["name"])
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = self.now()
        if dry_run:
            return obj
        created = self.store.create(rt, obj)
        if rt is NAMESPACES and self.publish_root_ca:
            self._publish_root_ca(metadata["name"])
        return created

    def _publish_root_ca(self, namespace: str) -> None:
        """Create `kube-root-ca.crt` in a new namespace, as kube-controller-manager's root-CA publisher does.

        Every pod's service-account volume refers to it, so without it a kubelet would never start a pod.
        The double serves plain HTTP and has no CA, so the certificate is a placeholder.
        """
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace},
            "data": {"ca.crt": PLACEHOLDER_CA},
        }
        self.create(CONFIGMAPS, namespace, config_map)

    def _check_body(self, rt: ResourceType, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(f"the body of the request must be a JSON object that is a {rt.kind}")
        kind = body.get("kind") or rt.kind
        api_version = body.get("apiVersion") or rt.api_version
        if kind != rt.kind or api_version != rt.api_version:
            raise bad_request(
                f'{kind} in version "{api_version}" cannot be handled as a {rt.kind}: '
                f"the object provided is unrecognized (must be of type {rt.kind})"
            )
        obj = copy.deepcopy(body)
        obj["kind"], obj["apiVersion"] = rt.kind, rt.api_version
        if not isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {}
        # kube-apiserver encodes kind and apiVersion first.
        return {"kind": obj.pop("kind"), "apiVersion": obj.pop("apiVersion"), **obj}

    # ---- update -----------------------------------------------------------------------------------

    def update(
        self, rt: ResourceType, namespace: str, name: str, body: Any, status: bool = False, dry_run: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """Replace an object (or its status); return it and whether it was created (PUT on a missing lease)."""
        obj = self._check_body(rt, body)
        body_name = obj["metadata"].get("name")
        if body_name and body_name != name:
            raise bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        obj["metadata"]["name"] = name
        body_namespace = obj["metadata"].get("namespace")
        if rt.namespaced and body_namespace and body_namespace != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        old = self.store.get(rt, namespace if rt.namespaced else "", name)
        if old is None:
            if rt.create_on_update and not status:
                obj["metadata"].pop("resourceVersion", None)
                return self.create(rt, namespace, obj, dry_run), True
            raise not_found(rt, name)
        return self.commit_update(rt, old, obj, status, dry_run), False

    def commit_update(
        self, rt: ResourceType, old: dict[str, Any], new: dict[str, Any], status: bool, dry_run: bool
    ) -> dict[str, Any]:
        """Check preconditions, run the strategy and store `new` in place of `old` unless nothing changed."""
        new_meta, old_meta = new["metadata"], old["metadata"]
        name = old_meta["name"]
        requested_rv = new_meta.get("resourceVersion")
        if requested_rv and requested_rv != old_meta["resourceVersion"]:
            raise stale_conflict(rt, name)
        new_meta["resourceVersion"] = old_meta["resourceVersion"]
        if rt.namespaced:
            new_meta["namespace"] = old_meta["namespace"]
        else:
            new_meta.pop("namespace", None)
        if not new_meta.get("uid"):
            new_meta["uid"] = old_meta["uid"]
        new_meta["creationTimestamp"] = old_meta["creationTimestamp"]
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if key in old_meta:
                new_meta[key] = old_meta[key]
            else:
                new_meta.pop(key, None)
        if status:
            strategies.prepare_for_status_update(rt, new, old)
        else:
            strategies.prepare_for_update(rt, new, old)
        fill_zero_values(rt.kind, new)
        normalize_times(rt.kind, new)
        errors = strategies.validate(rt, new) + strategies.validate_update(rt, new, old, status)
        if errors:
            raise invalid(rt, name, errors)
        if new == old or dry_run:
            return new
        finalized = new_meta.get("deletionTimestamp") and not new_meta.get("finalizers")
        if finalized and (rt.kind != "Pod" or new_meta.get("deletionGracePeriodSeconds") == 0):
            # The last finalizer is gone: the store deletes instead of updating (ShouldDeleteDuringUpdate).
            return self.store.delete(rt, new_meta.get("namespace") or "", name)
        return self.store.update(rt, new)

    # ---- patch ------------------------------------------------------------------------------------

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        status: bool = False,
        dry_run: bool = False,
        check_fields: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Apply a patch of `content_type` to the stored object (or its status) and store the result.

        `check_fields` is called with the patched object before validation, so the handlers can drop unknown
        fields from it.
        """
        if content_type not in SUPPORTED_PATCH_TYPES:
            raise unsupported_media_type(content_type, SUPPORTED_PATCH_TYPES)
        old = self.get(rt, namespace, name)
        try:
            if content_type == MERGE_PATCH:
                if not isinstance(patch, dict):
                    raise PatchError("a merge patch must be a JSON object")
                patched = merge_patch(old, patch)
            elif content_type == STRATEGIC_PATCH:
                patched = strategic_merge_patch(old, patch, rt.kind)
            else:
                patched = json_patch(old, patch)
        except PatchError as error:
            if content_type == JSON_PATCH:
                raise StatusError(
                    422, "Invalid", "the server rejected our request due to an error in our request",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": str(error)}]},
                ) from error
            if "does not contain declared merge key" in str(error):
                raise StatusError(500, "", str(error)) from error
            raise bad_request(str(error)) from error
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise bad_request("the patched object has no metadata")
        if check_fields is not None:
            check_fields(patched)
        patched = self._check_body(rt, patched)
        if patched["metadata"].get("name") != name:
            raise bad_request(f"the name of the object ({patched['metadata'].get('name')}) does not match the name on the URL ({name})")
        return self.commit_update(rt, old, patched, status, dry_run)
