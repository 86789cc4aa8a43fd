"""Merge patch, JSON patch and strategic merge patch on plain objects."""

from __future__ import annotations

import pytest

from jiriaf_fw.testing.apiserver.patch import PatchError, json_patch, merge_patch
from jiriaf_fw.testing.apiserver.strategic import strategic_merge_patch

POD = {
    "metadata": {"name": "p", "finalizers": ["a"]},
    "spec": {
        "containers": [
            {"name": "main", "image": "x", "env": [{"name": "A", "value": "1"}],
             "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
            {"name": "side", "image": "y"},
        ],
        "volumes": [{"name": "v", "emptyDir": {}}],
        "tolerations": [{"key": "t", "operator": "Exists"}],
    },
    "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]},
}


def test_merge_patch() -> None:
    result = merge_patch({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": None, "e": 3}, "d": [2]})
    assert result == {"a": {"c": 2, "e": 3}, "d": [2]}


def test_json_patch_operations() -> None:
    document = {"a": [1, 2], "b": {"c": 1}}
    result = json_patch(document, [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "replace", "path": "/b/c", "value": 2},
        {"op": "copy", "from": "/b", "path": "/d"},
        {"op": "move", "from": "/a/0", "path": "/e"},
        {"op": "test", "path": "/e", "value": 1},
    ])
    assert result == {"a": [2, 3], "b": {"c": 2}, "d": {"c": 2}, "e": 1}
    assert document == {"a": [1, 2], "b": {"c": 1}}


@pytest.mark.parametrize("operation", [
    {"op": "remove", "path": "/missing"},
    {"op": "replace", "path": "/missing", "value": 1},
    {"op": "test", "path": "/a", "value": 2},
    {"op": "jump", "path": "/a"},
])
def test_json_patch_failures(operation: dict) -> None:
    with pytest.raises(PatchError):
        json_patch({"a": 1}, [operation])


def test_strategic_merge_containers_by_name() -> None:
    patch = {"spec": {"containers": [{"name": "main", "image": "x2", "env": [{"name": "B", "value": "2"}]}]}}
    result = strategic_merge_patch(POD, patch, "Pod")
    main, side = result["spec"]["containers"]
    assert main["image"] == "x2"
    assert [e["name"] for e in main["env"]] == ["A", "B"]
    assert side == {"name": "side", "image": "y"}


def test_strategic_merge_delete_directive() -> None:
    patch = {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}
    result = strategic_merge_patch(POD, patch, "Pod")
    assert [c["name"] for c in result["spec"]["containers"]] == ["main"]


def test_strategic_merge_replace_directive() -> None:
    patch = {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "z"}]}}
    result = strategic_merge_patch(POD, patch, "Pod")
    assert result["spec"]["containers"] == [{"name": "only", "image": "z"}]
    map_patch = {"status": {"$patch": "replace", "phase": "Running"}}
    assert strategic_merge_patch(POD, map_patch, "Pod")["status"] == {"phase": "Running"}


def test_strategic_merge_conditions_by_type() -> None:
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    result = strategic_merge_patch(POD, patch, "Pod")
    assert result["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                              {"type": "PodScheduled", "status": "True"}]


def test_strategic_merge_replaces_tolerations() -> None:
    patch = {"spec": {"tolerations": [{"key": "new", "operator": "Exists"}]}}
    assert strategic_merge_patch(POD, patch, "Pod")["spec"]["tolerations"] == [{"key": "new", "operator": "Exists"}]


def test_strategic_merge_set_element_order_and_primitive_lists() -> None:
    patch = {
        "metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]},
        "spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "main"}]},
    }
    result = strategic_merge_patch(POD, patch, "Pod")
    assert result["metadata"]["finalizers"] == ["b"]
    assert [c["name"] for c in result["spec"]["containers"]] == ["side", "main"]


def test_strategic_merge_retain_keys() -> None:
    patch = {"spec": {"volumes": [{"name": "v", "$retainKeys": ["configMap", "name"], "configMap": {"name": "c"}}]}}
    result = strategic_merge_patch(POD, patch, "Pod")
    assert result["spec"]["volumes"] == [{"name": "v", "configMap": {"name": "c"}}]


def test_strategic_merge_missing_merge_key() -> None:
    with pytest.raises(PatchError, match="does not contain declared merge key: name"):
        strategic_merge_patch(POD, {"spec": {"containers": [{"image": "x"}]}}, "Pod")


def test_strategic_merge_node_addresses_by_type() -> None:
    node = {"metadata": {"name": "n"}, "status": {"addresses": [{"type": "InternalIP", "address": "1.1.1.1"}]}}
    patch = {"status": {"addresses": [{"type": "Hostname", "address": "h"}]}}
    assert [a["type"] for a in strategic_merge_patch(node, patch, "Node")["status"]["addresses"]] == [
        "InternalIP", "Hostname"]
