"""The resource types the double serves, with what discovery, routing and selectors need of each."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource such as `pods` in core/v1 or `leases` in coordination.k8s.io/v1."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    # Field selector labels the kind's conversion function accepts; None means the scheme's default
    # conversion (metadata.name and metadata.namespace, with a different error message).
    field_labels: tuple[str, ...] | None = None
    categories: tuple[str, ...] = ()
    # Whether DELETE returns the deleted object (as the pod and namespace registries do) or a Status.
    returns_deleted_object: bool = False
    # Whether PUT on a missing object creates it (leases and events allow it).
    create_on_update: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`pods`, or `leases.coordination.k8s.io` for a named group, as in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group_version_path(self) -> str:
        """`api/v1` or `apis/<group>/<version>`, the path prefix without the leading slash."""
        return f"apis/{self.group}/{self.version}" if self.group else f"api/{self.version}"


NAMESPACES = ResourceType(
    "", "v1", "Namespace", "namespaces", "namespace", False, ("ns",),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    subresources=("status",), field_labels=("metadata.name", "status.phase"),
    returns_deleted_object=True,
)
NODES = ResourceType(
    "", "v1", "Node", "nodes", "node", False, ("no",), subresources=("status",),
    field_labels=("metadata.name", "spec.unschedulable"),
)
PODS = ResourceType(
    "", "v1", "Pod", "pods", "pod", True, ("po",), subresources=("status", "binding", "log"),
    field_labels=(
        "metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
        "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
        "status.nominatedNodeName",
    ),
    categories=("all",), returns_deleted_object=True,
)
CONFIGMAPS = ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",))
SECRETS = ResourceType(
    "", "v1", "Secret", "secrets", "secret", True, field_labels=("metadata.name", "metadata.namespace", "type")
)
EVENTS = ResourceType(
    "", "v1", "Event", "events", "event", True, ("ev",),
    field_labels=(
        "metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
        "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
        "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "source",
        "type",
    ),
    create_on_update=True,
)
LEASES = ResourceType(
    "coordination.k8s.io", "v1", "Lease", "leases", "lease", True, create_on_update=True
)

RESOURCE_TYPES: tuple[ResourceType, ...] = (NAMESPACES, NODES, PODS, CONFIGMAPS, SECRETS, EVENTS, LEASES)

GROUP_VERSIONS: tuple[tuple[str, str], ...] = (("", "v1"), ("coordination.k8s.io", "v1"))


def find_resource(group: str, version: str, plural: str) -> ResourceType | None:
    for rt in RESOURCE_TYPES:
        if rt.group == group and rt.version == version and rt.plural == plural:
            return rt
    return None


def resources_in(group: str, version: str) -> list[ResourceType]:
    return [rt for rt in RESOURCE_TYPES if rt.group == group and rt.version == version]
