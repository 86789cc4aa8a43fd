"""One-line messages for invalid site configs: `<file>: <dotted key>: <what is wrong>, got <value>`."""

from __future__ import annotations

import logging
import re
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

logger = logging.getLogger(__name__)

_MAX_VALUE_CHARS = 120
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


class KeyedValueError(ValueError):
    """A ValueError from a check across sections, carrying the dotted key it is about."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def show_value(value: Any) -> str:
    """Return `repr(value)` cut to one readable line (repr already escapes newlines)."""
    text = repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def dotted_key(location: Sequence[int | str]) -> str:
    """Join a pydantic error location into `jrm.custom_metrics_ports.1`; odd keys are shown with repr."""
    parts = [
        str(part) if isinstance(part, int) or _PLAIN_KEY.fullmatch(part) else repr(part) for part in location
    ]
    return ".".join(parts) if parts else "<top level>"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _model_at(root: type[BaseModel], path: Sequence[int | str]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = root
    for part in path:
        field = current.model_fields.get(part) if current is not None and isinstance(part, str) else None
        if field is None:
            return None
        current = _model_in(field.annotation)
    return current


def _describe(error: Any, root: type[BaseModel]) -> tuple[str, str]:
    """Return (dotted key, problem) for one pydantic error dict."""
    kind, location, ctx = error["type"], tuple(error["loc"]), error.get("ctx") or {}
    got = f"got {show_value(error.get('input'))}"
    cause = ctx.get("error")
    if isinstance(cause, KeyedValueError):
        return cause.key, cause.message
    key = dotted_key(location)
    if kind == "missing":
        return key, "missing required key"
    if kind == "extra_forbidden":
        model = _model_at(root, location[:-1])
        valid = f"; valid keys: {', '.join(model.model_fields)}" if model is not None else ""
        return key, f"unknown key{valid}"
    problems: dict[str, str] = {
        "int_parsing": f"expected an integer, {got}",
        "int_type": f"expected an integer, {got}",
        "int_from_float": f"expected an integer, {got}",
        "bool_parsing": f"expected true or false, {got}",
        "bool_type": f"expected true or false, {got}",
        "string_type": f"expected a string, {got}",
        "list_type": f"expected a list, {got}",
        "model_type": f"expected a mapping, {got}",
        "dict_type": f"expected a mapping, {got}",
        "greater_than_equal": f"expected a number >= {ctx.get('ge')}, {got}",
        "less_than_equal": f"expected a number <= {ctx.get('le')}, {got}",
        "literal_error": f"expected one of {ctx.get('expected')}, {got}",
    }
    if kind == "value_error" and cause is not None:
        return key, str(cause)
    return key, problems.get(kind, f"{error['msg']}, {got}")


def format_validation_error(
    error: ValidationError,
    source: str,
    root: type[BaseModel],
    rename_key: Callable[[str], str] | None = None,
) -> str:
    """Return the first error of `error` as one line, `<source>: <key>: <problem>`, plus "(and N more)".

    `rename_key` maps a dotted key to the name the user wrote, for inputs such as env.list files.
    """
    errors = error.errors(include_url=False)
    key, problem = _describe(errors[0], root)
    if rename_key is not None:
        key = rename_key(key)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    line = f"{source}: {key}: {problem}{more}"
    # Keys and problems are built from repr() and fixed text; this guards the one-line promise anyway.
    return " ".join(line.splitlines())
