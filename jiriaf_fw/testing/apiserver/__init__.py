"""An HTTP-level stand-in for kube-apiserver, for tests and demos on machines without a Kubernetes cluster.

The double serves what the JRM agent (through lightkube) and `kubectl` use: core/v1 namespaces, nodes, pods
(with the `status`, `binding` and `log` subresources), configmaps, secrets and events, and
coordination.k8s.io/v1 leases; discovery, /version, /healthz, /readyz and OpenAPI v3 documents (so that
`kubectl apply` validates without `--validate=false`). It is strict on purpose: where kube-apiserver rejects a
request, the double rejects it with the same status code and `Status` reason and message. A built-in binder
stands in for kube-scheduler; there are no other controllers (no node lifecycle controller, no garbage
collector, no namespace controller: deleting a namespace removes its objects at once).

Not implemented: authentication and authorization (every request is allowed), TLS (plain HTTP),
server-side apply (`application/apply-patch+yaml` gets 415), managedFields, and kinds other than the ones above.

Use it from asynchronous code::

    from jiriaf_fw.testing.apiserver import ApiServerDouble

    async with ApiServerDouble(host="127.0.0.1", port=0) as api:
        api.write_kubeconfig(path)      # then point lightkube or kubectl at `path`

from synchronous code with `ApiServerDouble.running_in_thread()`, or as a process::

    jiriaf-apiserver-double --kubeconfig /tmp/kubeconfig [--port 0] [--ready-file /tmp/ready]

To use a real cluster instead, set the site's `jrm.kubeconfig` to that cluster's kubeconfig file: nothing in
jiriaf-fw depends on the double.
"""

from .errors import ApiServerDoubleError, StatusError
from .server import ApiServerDouble

__all__ = ["ApiServerDouble", "ApiServerDoubleError", "StatusError"]
