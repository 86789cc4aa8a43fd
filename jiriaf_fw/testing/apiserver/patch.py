"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), applied to plain JSON objects.

Both functions return a new document and never mutate their arguments. A patch that cannot be applied
raises `PatchError`; the handler turns it into the Status kube-apiserver returns for it.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch is malformed or does not apply to the document."""


def merge_patch(document: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: maps merge recursively, null deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(document) if isinstance(document, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _parse_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"JSON pointer {pointer!r} does not start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def _list_index(container: list[Any], token: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (token.startswith("0") and token != "0"):
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    limit = len(container) if allow_end else len(container) - 1
    if index > limit:
        raise PatchError(f"array index {index} is out of bounds")
    return index


def _parent(document: Any, tokens: list[str], path: str) -> Any:
    current = document
    for token in tokens[:-1]:
        if isinstance(current, dict):
            if token not in current:
                raise PatchError(f"doc is missing path: {path!r}")
            current = current[token]
        elif isinstance(current, list):
            current = current[_list_index(current, token, allow_end=False)]
        else:
            raise PatchError(f"doc is missing path: {path!r}")
    return current


def _get(document: Any, path: str) -> Any:
    tokens = _parse_pointer(path)
    if not tokens:
        return document
    parent = _parent(document, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"doc is missing key: {path!r}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_list_index(parent, last, allow_end=False)]
    raise PatchError(f"doc is missing path: {path!r}")


def _add(document: Any, path: str, value: Any) -> Any:
    tokens = _parse_pointer(path)
    if not tokens:
        return value
    parent = _parent(document, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_list_index(parent, last, allow_end=True), value)
    else:
        raise PatchError(f"doc is missing path: {path!r}")
    return document


def _remove(document: Any, path: str) -> Any:
    tokens = _parse_pointer(path)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(document, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"unable to remove nonexistent key: {last}: missing value")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_list_index(parent, last, allow_end=False)]
    else:
        raise PatchError(f"doc is missing path: {path!r}")
    return document


def json_patch(document: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    result = copy.deepcopy(document)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"invalid JSON patch operation {operation!r}")
        op, path = operation["op"], operation["path"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"JSON patch operation {op!r} on {path!r} has no value")
        if op == "add":
            result = _add(result, path, copy.deepcopy(operation["value"]))
        elif op == "remove":
            result = _remove(result, path)
        elif op == "replace":
            _get(result, path)
            result = _add(_remove(result, path), path, copy.deepcopy(operation["value"])) if path else operation["value"]
        elif op in ("move", "copy"):
            source = operation.get("from")
            if source is None:
                raise PatchError(f"JSON patch operation {op!r} on {path!r} has no 'from'")
            value = copy.deepcopy(_get(result, source))
            if op == "move":
                result = _remove(result, source)
            result = _add(result, path, value)
        elif op == "test":
            if _get(result, path) != operation["value"]:
                raise PatchError(f"testing value {path} failed")
        else:
            raise PatchError(f"Unexpected kind: {op}")
    return result
