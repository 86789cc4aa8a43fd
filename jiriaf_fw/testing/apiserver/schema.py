"""Known fields of the kinds the double serves, for `fieldValidation` and for dropping unknown fields.

kube-apiserver decodes requests into Go structs, so an unknown field is dropped (with a warning by default),
or rejected with `fieldValidation=Strict`. The schemas below list the fields of Kubernetes 1.32 down to the
depth jiriaf-fw writes (object metadata, pod spec and status, containers, node spec and status, lease spec);
deeper objects such as probes or affinity are free-form here and are neither checked nor pruned.
"""

from __future__ import annotations

from typing import Any

# A schema maps field names to a sub-schema: None for a free-form value, a dict for an object, and a
# one-element list holding the item schema for a list of objects.
Schema = dict[str, Any]
SchemaNode = None | Schema | list

_OWNER_REFERENCE = dict.fromkeys(("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"))
METADATA: Schema = {
    **dict.fromkeys((
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "finalizers", "managedFields",
    )),
    "ownerReferences": [_OWNER_REFERENCE],
}
CONTAINER: Schema = {
    **dict.fromkeys((
        "name", "image", "command", "args", "workingDir", "envFrom", "resources", "resizePolicy", "restartPolicy",
        "volumeDevices", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
        "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
    )),
    "ports": [dict.fromkeys(("name", "hostPort", "containerPort", "protocol", "hostIP"))],
    "env": [dict.fromkeys(("name", "value", "valueFrom"))],
    "volumeMounts": [dict.fromkeys((
        "name", "readOnly", "recursiveReadOnly", "mountPath", "subPath", "mountPropagation", "subPathExpr",
    ))],
}
_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)
POD_SPEC: Schema = {
    **dict.fromkeys((
        "restartPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
        "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName", "hostNetwork",
        "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
        "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority",
        "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead",
        "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates",
        "resourceClaims", "resources", "ephemeralContainers",
    )),
    "volumes": [{"name": None, **dict.fromkeys(_VOLUME_SOURCES)}],
    "initContainers": [CONTAINER],
    "containers": [CONTAINER],
}
CONTAINER_STATUS: Schema = dict.fromkeys((
    "name", "state", "lastState", "ready", "restartCount", "image", "imageID", "containerID", "started",
    "allocatedResources", "resources", "volumeMounts", "user", "allocatedResourcesStatus",
))
CONDITION: Schema = dict.fromkeys((
    "type", "status", "lastProbeTime", "lastHeartbeatTime", "lastTransitionTime", "reason", "message",
    "observedGeneration",
))
POD_STATUS: Schema = {
    **dict.fromkeys((
        "phase", "message", "reason", "nominatedNodeName", "hostIP", "hostIPs", "podIP", "podIPs", "startTime",
        "qosClass", "ephemeralContainerStatuses", "resize", "resourceClaimStatuses", "observedGeneration",
    )),
    "conditions": [CONDITION],
    "initContainerStatuses": [CONTAINER_STATUS],
    "containerStatuses": [CONTAINER_STATUS],
}
NODE_SPEC: Schema = dict.fromkeys(("podCIDR", "podCIDRs", "providerID", "unschedulable", "taints", "configSource",
                                   "externalID"))
NODE_STATUS: Schema = {
    **dict.fromkeys(("capacity", "allocatable", "phase", "images", "volumesInUse", "volumesAttached", "config",
                     "runtimeHandlers", "features")),
    "conditions": [CONDITION],
    "addresses": [dict.fromkeys(("type", "address"))],
    "daemonEndpoints": {"kubeletEndpoint": {"Port": None}},
    "nodeInfo": dict.fromkeys((
        "machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
        "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture", "swap",
    )),
}
LEASE_SPEC: Schema = dict.fromkeys((
    "holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions", "strategy",
    "preferredHolder",
))

_TYPE_META = {"apiVersion": None, "kind": None, "metadata": METADATA}
KIND_SCHEMAS: dict[str, Schema] = {
    "Pod": {**_TYPE_META, "spec": POD_SPEC, "status": POD_STATUS},
    "Node": {**_TYPE_META, "spec": NODE_SPEC, "status": NODE_STATUS},
    "Namespace": {**_TYPE_META, "spec": {"finalizers": None}, "status": {"phase": None, "conditions": [CONDITION]}},
    "ConfigMap": {**_TYPE_META, **dict.fromkeys(("data", "binaryData", "immutable"))},
    "Secret": {**_TYPE_META, **dict.fromkeys(("data", "stringData", "type", "immutable"))},
    "Event": {**_TYPE_META, **dict.fromkeys((
        "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "type",
        "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance",
    ))},
    "Lease": {**_TYPE_META, "spec": LEASE_SPEC},
}


def prune_unknown_fields(kind: str, obj: dict[str, Any]) -> list[str]:
    """Remove the fields `kind` does not have from `obj` in place; return their paths (`spec.containers[0].x`)."""
    schema = KIND_SCHEMAS.get(kind)
    if schema is None:
        return []
    unknown: list[str] = []
    _prune(obj, schema, "", unknown)
    return unknown


def _prune(value: Any, schema: SchemaNode, path: str, unknown: list[str]) -> None:
    if schema is None:
        return
    if isinstance(schema, list):
        if isinstance(value, list):
            for index, item in enumerate(value):
                _prune(item, schema[0], f"{path}[{index}]", unknown)
        return
    if not isinstance(value, dict):
        return
    for key in list(value):
        child_path = f"{path}.{key}" if path else key
        if key not in schema:
            unknown.append(child_path)
            del value[key]
        else:
            _prune(value[key], schema[key], child_path, unknown)


# ---- Go zero values ---------------------------------------------------------------------------------
# kube-apiserver stores what its Go structs encode, so a field without `omitempty` (and every struct-typed
# field) always appears, with its zero value when the client did not send it. Clients such as lightkube
# decode those fields as required. ZERO_VALUES lists them for the kinds the double serves; a one-element list
# means "apply to each item of this list".

_CONTAINER_STATE = {"terminated": {"exitCode": 0}, "running": {"startedAt": None}}
_CONTAINER_STATUS = {"name": "", "state": _CONTAINER_STATE, "lastState": _CONTAINER_STATE, "ready": False,
                     "restartCount": 0, "image": "", "imageID": ""}
_POD_CONDITION = {"type": "", "status": "", "lastProbeTime": None, "lastTransitionTime": None}
_NODE_CONDITION = {"type": "", "status": "", "lastHeartbeatTime": None, "lastTransitionTime": None}
_NODE_INFO = dict.fromkeys((
    "machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion", "kubeletVersion",
    "kubeProxyVersion", "operatingSystem", "architecture",
), "")
ZERO_VALUES: dict[str, dict[str, Any]] = {
    "Pod": {"metadata": {"creationTimestamp": None}, "spec": {}, "status": {
        "conditions": [_POD_CONDITION], "containerStatuses": [_CONTAINER_STATUS],
        "initContainerStatuses": [_CONTAINER_STATUS], "podIPs": [{"ip": ""}], "hostIPs": [{"ip": ""}],
    }},
    "Node": {"metadata": {"creationTimestamp": None}, "spec": {"taints": [{"key": "", "effect": ""}]}, "status": {
        "conditions": [_NODE_CONDITION], "addresses": [{"type": "", "address": ""}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}}, "nodeInfo": _NODE_INFO,
    }},
    "Namespace": {"metadata": {"creationTimestamp": None}, "spec": {}, "status": {}},
    "Event": {"metadata": {"creationTimestamp": None}, "involvedObject": {}, "source": {}, "eventTime": None,
              "reportingComponent": "", "reportingInstance": ""},
    "Lease": {"metadata": {"creationTimestamp": None}, "spec": {}},
    "ConfigMap": {"metadata": {"creationTimestamp": None}},
    "Secret": {"metadata": {"creationTimestamp": None}},
}
# Struct-typed fields that appear only when their parent does (`state.terminated` only for a terminated
# container): for these the zero values are filled inside, but the field itself is not created.
_OPTIONAL_STRUCTS = {"terminated", "running"}


def fill_zero_values(kind: str, obj: dict[str, Any]) -> None:
    """Add the always-encoded fields of `kind` that `obj` lacks, with Go's zero values, in place."""
    zero = ZERO_VALUES.get(kind)
    if zero is not None:
        _fill(obj, zero)


def _fill(value: dict[str, Any], zero: dict[str, Any]) -> None:
    for key, default in zero.items():
        if isinstance(default, list):
            for item in value.get(key) or []:
                if isinstance(item, dict):
                    _fill(item, default[0])
        elif isinstance(default, dict):
            if key not in value:
                if key in _OPTIONAL_STRUCTS:
                    continue
                value[key] = {}
            if isinstance(value[key], dict):
                _fill(value[key], default)
        elif key not in value:
            value[key] = default
