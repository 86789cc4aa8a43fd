"""Synchronous Kubernetes calls the CLI needs: deleting a pilot's Nodes by name."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import httpx2
from lightkube import Client
from lightkube.resources.core_v1 import Node

from jiriaf_fw.adapters.kube import KubeNotFound, load_kubeconfig, translate_errors

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 15.0


def _client(kubeconfig: Path) -> Client:
    config = load_kubeconfig(kubeconfig, missing_hint="it is needed to delete the pilot's nodes")
    return Client(config, timeout=httpx2.Timeout(REQUEST_TIMEOUT_S))


def delete_nodes(kubeconfig: Path, names: Iterable[str]) -> list[str]:
    """Delete each named Node; return the names that existed. A Node that is already gone is skipped.

    Raises `KubeError` when the API server cannot be reached or rejects a deletion, so the caller can stop
    before forgetting the pilot and retry later.
    """
    client = _client(kubeconfig)
    deleted: list[str] = []
    try:
        for name in names:
            try:
                with translate_errors(f"delete Node {name}"):
                    client.delete(Node, name)
            except KubeNotFound:
                logger.debug("node %s was already gone", name)
                continue
            logger.info("deleted node %s", name)
            deleted.append(name)
    finally:
        client.close()
    return deleted
