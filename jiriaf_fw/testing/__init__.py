"""Test helpers shipped with the package, most importantly an HTTP-level Kubernetes API-server double.

The double is a stand-in for kube-apiserver, for demos and tests on machines without a cluster.
It imports nothing from the adapters, services or CLI.
"""
