"""Kubernetes node names of a pilot: `<jrm.nodename>-<8 hex>`, one per Slurm node.

The random part comes from an injected token source, so tests can fix it. `secrets.token_hex` is the
default source and is called only when the caller asks for names; nothing here runs at import time.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Collection

logger = logging.getLogger(__name__)

TOKEN_LENGTH = 8
MAX_NODE_NAME_LENGTH = 63
MAX_PREFIX_LENGTH = MAX_NODE_NAME_LENGTH - 1 - TOKEN_LENGTH

TokenSource = Callable[[], str]
"""A callable returning 8 lowercase hexadecimal digits."""

_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_TOKEN = re.compile(rf"[0-9a-f]{{{TOKEN_LENGTH}}}")
_MAX_ATTEMPTS_PER_NAME = 20


def random_token() -> str:
    """Return 8 random lowercase hexadecimal digits."""
    return secrets.token_hex(TOKEN_LENGTH // 2)


def check_node_name_prefix(prefix: str) -> str:
    """Return `prefix` if `<prefix>-<8 hex>` is a valid node name, else raise ValueError naming it.

    A node name is an RFC 1123 DNS label: lowercase letters, digits and `-`, starting and ending with a
    letter or digit, at most 63 characters. That leaves 54 characters for the prefix.
    """
    if len(prefix) > MAX_PREFIX_LENGTH or _PREFIX.fullmatch(prefix) is None:
        raise ValueError(
            f"invalid node name prefix {prefix!r}: use lowercase letters, digits and '-', starting and "
            f"ending with a letter or digit, at most {MAX_PREFIX_LENGTH} characters so that "
            f"'-<{TOKEN_LENGTH} hex>' fits in a {MAX_NODE_NAME_LENGTH}-character Kubernetes node name"
        )
    return prefix


def node_name(prefix: str, token: str) -> str:
    """Join a checked prefix and an 8-hex token into a node name. Raises ValueError for a bad part."""
    check_node_name_prefix(prefix)
    if _TOKEN.fullmatch(token) is None:
        raise ValueError(f"invalid node name token {token!r}: expected {TOKEN_LENGTH} lowercase hex digits")
    return f"{prefix}-{token}"


def generate_node_names(
    prefix: str,
    count: int,
    token_source: TokenSource = random_token,
    *,
    existing: Collection[str] = (),
) -> list[str]:
    """Return `count` distinct node names `<prefix>-<token>`, none of them in `existing`.

    A token that repeats an earlier name is drawn again. Raises ValueError for a bad prefix or token, and
    RuntimeError when the token source keeps repeating itself (a broken source, since 32 random bits
    practically never collide within one pilot).
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    used_names = set(existing)
    names: list[str] = []
    attempts = 0
    while len(names) < count:
        attempts += 1
        if attempts > _MAX_ATTEMPTS_PER_NAME * max(count, 1):
            raise RuntimeError(f"the token source repeated itself {attempts - 1} times for {count} names")
        name = node_name(prefix, token_source())
        if name in used_names:
            logger.debug("node name %s is taken, drawing another token", name)
            continue
        used_names.add(name)
        names.append(name)
    return names
