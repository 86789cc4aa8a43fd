"""Readers of site config files: YAML, and the `KEY=VALUE` env.list form of the original JIRIAF launcher.

These are the only functions of `jiriaf_fw.core` that open a file. Every failure is a one-line ConfigError
that starts with the file name.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import yaml
from yaml.constructor import ConstructorError

from jiriaf_fw.core.errors import ConfigError

logger = logging.getLogger(__name__)

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlAliasError(yaml.MarkedYAMLError):
    """A YAML alias in a site config. `anchor` is its name and `problem_mark` its place in the file."""

    def __init__(self, anchor: str, mark: yaml.Mark) -> None:
        super().__init__(problem=f"alias *{anchor}", problem_mark=mark)
        self.anchor = anchor


class SiteYamlLoader(yaml.SafeLoader):
    """A SafeLoader that keeps Slurm durations as text and rejects duplicate keys and aliases.

    YAML 1.1 reads `00:10:00` as the base-60 integer 600 and `010` as octal 8, so an unquoted walltime
    would silently become a number of minutes. Here only plain decimal numbers become ints and floats;
    everything else stays a string. A key given twice in one mapping raises instead of keeping the last.
    Any alias raises YamlAliasError while the document is composed, before anything is constructed,
    because nested aliases can make a small file expand to millions of items.
    """

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlAliasError(event.anchor, event.start_mark)
        return super().compose_node(parent, index)

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            if isinstance(key, str | int | float | bool):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


SiteYamlLoader.add_implicit_resolver(_INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
SiteYamlLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^[-+]?(?:(?:0|[1-9][0-9]*)\.[0-9]*(?:[eE][-+]?[0-9]+)?|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _read_text(source: str) -> str:
    try:
        with open(source, encoding="utf-8") as stream:
            return stream.read()
    except FileNotFoundError as error:
        raise ConfigError(f"{source}: config file not found") from error
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{source}: the config file is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from error
    except OSError as error:
        raise ConfigError(f"{source}: cannot read the config file: {error.strerror or error}") from error


def read_yaml_file(source: str) -> Any:
    """Parse the YAML file `source` with SiteYamlLoader; an empty file gives None.

    Raises ConfigError for a missing or unreadable file, for invalid YAML and for a YAML alias (with line and
    column).
    """
    text = _read_text(source)
    try:
        # SiteYamlLoader derives from SafeLoader, so no YAML tag can construct Python objects.
        return yaml.load(text, Loader=SiteYamlLoader)
    except YamlAliasError as error:
        mark = error.problem_mark
        raise ConfigError(
            f"{source}: line {mark.line + 1}, column {mark.column + 1}: YAML aliases (*{error.anchor}) are not "
            "allowed in a site config; write the value out in full"
        ) from error
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = error.problem or error.context or "unknown problem"
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {' '.join(str(error).split())}") from error


_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def read_env_list(source: str) -> dict[str, str]:
    """Read `KEY=VALUE` lines; blank lines and lines starting with `#` are skipped.

    Whitespace around keys and values is dropped, and so is one pair of quotes around a whole value.
    Nothing is expanded here. Raises ConfigError for a line without `=`, a bad key or a repeated key.
    """
    entries: dict[str, str] = {}
    for number, raw_line in enumerate(_read_text(source).splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        key = key.strip()
        if not equals or _ENV_KEY.fullmatch(key) is None:
            raise ConfigError(f"{source}: line {number}: expected KEY=VALUE, got {line!r}")
        if key in entries:
            raise ConfigError(f"{source}: line {number}: duplicate key {key!r}")
        entries[key] = _unquote(value.strip())
    return entries
