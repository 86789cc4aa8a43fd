"""Node names `<prefix>-<8 hex>` from an injected token source."""

from collections.abc import Iterator

import pytest

from jiriaf_fw.core.naming import (
    MAX_PREFIX_LENGTH,
    check_node_name_prefix,
    generate_node_names,
    node_name,
    random_token,
)


def tokens(*values: str) -> Iterator[str]:
    return iter(values)


def test_names_from_tokens() -> None:
    source = tokens("0a1b2c3d", "deadbeef")
    assert generate_node_names("vk-nersc", 2, lambda: next(source)) == [
        "vk-nersc-0a1b2c3d",
        "vk-nersc-deadbeef",
    ]


def test_repeated_token_drawn_again() -> None:
    source = tokens("aaaaaaaa", "aaaaaaaa", "bbbbbbbb")
    assert generate_node_names("vk", 2, lambda: next(source)) == ["vk-aaaaaaaa", "vk-bbbbbbbb"]


def test_existing_names_skipped() -> None:
    source = tokens("aaaaaaaa", "bbbbbbbb")
    assert generate_node_names("vk", 1, lambda: next(source), existing={"vk-aaaaaaaa"}) == ["vk-bbbbbbbb"]


def test_stuck_source_raises() -> None:
    with pytest.raises(RuntimeError, match="repeated itself"):
        generate_node_names("vk", 2, lambda: "aaaaaaaa")


def test_random_names_unique_and_valid() -> None:
    names = generate_node_names("a" * MAX_PREFIX_LENGTH, 50)
    assert len(set(names)) == 50
    assert all(len(name) == 63 for name in names)
    assert len(random_token()) == 8


@pytest.mark.parametrize("token", ["ABCDEF12", "abc", "0a1b2c3d9", "zzzzzzzz"])
def test_bad_token_rejected(token: str) -> None:
    with pytest.raises(ValueError, match="invalid node name token"):
        node_name("vk", token)


@pytest.mark.parametrize("prefix", ["vk", "vk-nersc-test", "a" * 54, "0vk9"])
def test_good_prefixes(prefix: str) -> None:
    assert check_node_name_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "VK", "vk_1", "-vk", "vk-", "a" * 55, "vk.site", "vk 1"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_node_name_prefix(prefix)
    assert str(caught.value) == (
        f"invalid node name prefix {prefix!r}: use lowercase letters, digits and '-', starting and ending "
        "with a letter or digit, at most 54 characters so that '-<8 hex>' fits in a 63-character "
        "Kubernetes node name"
    )
