"""An HTTP-level stand-in for kube-apiserver, for tests and demos on machines without a Kubernetes cluster.

The double serves what the JRM agent (through lightkube) and `kubectl` use. Those are the core/v1
namespaces, nodes, pods (with the `status`, `binding` and `log` subresources), configmaps, secrets and
events, and coordination.k8s.io/v1 leases. It also serves discovery, /version, /healthz, /readyz and the
OpenAPI v3 documents that `kubectl apply` needs to validate without `--validate=false`.

It is strict on purpose: where kube-apiserver rejects a request, the double rejects it with the same status
code and `Status` reason and message. It also changes objects the way kube-apiserver does. Defaults are
filled in, and so are the fields Go always encodes. Timestamps are re-encoded in UTC and unknown fields are
dropped (or rejected with `fieldValidation=Strict`). The ServiceAccount and DefaultTolerationSeconds
admission plugins run, so every pod gets a `kube-api-access-*` projected volume and two NoExecute
tolerations.

A built-in binder replaces kube-scheduler, and every new namespace gets the `kube-root-ca.crt` ConfigMap
that kube-controller-manager's root-CA publisher creates (with a placeholder certificate), because every
pod's service-account volume refers to it. There are no other controllers: no node lifecycle controller,
no garbage collector, and no namespace controller, so deleting a namespace removes its objects at once.

Not implemented: authentication and authorization (every request is allowed), TLS (plain HTTP),
server-side apply (`application/apply-patch+yaml` gets 415), managedFields, and other kinds.

Use it from asynchronous code::

    from jiriaf_fw.testing.apiserver import ApiServerDouble

    async with ApiServerDouble(host="127.0.0.1", port=0) as api:
        api.write_kubeconfig(path)      # then point lightkube or kubectl at `path`

`write_kubeconfig` and the process replace an existing file only if the double wrote it; pass
`overwrite=True` (or `--force`) to replace any file.

from synchronous code with `ApiServerDouble.running_in_thread()`, or as a process::

    jiriaf-apiserver-double --kubeconfig /tmp/kubeconfig [--port 0] [--ready-file /tmp/ready]

To use a real cluster instead, set the site's `jrm.kubeconfig` to that cluster's kubeconfig file. Nothing
else in jiriaf-fw depends on the double.
"""

from .errors import ApiServerDoubleError, StatusError
from .kubeconfig_file import KubeconfigExistsError
from .server import ApiServerDouble
from .watchstream import WatchSettings

__all__ = ["ApiServerDouble", "ApiServerDoubleError", "KubeconfigExistsError", "StatusError", "WatchSettings"]
