"""Schema fields for TOML data envkit validates (profiles, and the parts of them a backend owns).

A field says its kind, what is expected (for the error message) and an optional value check.
Kinds: "str", "int", "bool", "list[str]", "list[int]", "map[str]", "table" (nested spec),
"list[table]", "map[table]". Leaf module: backends import it without importing profiles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from packaging.specifiers import InvalidSpecifier, SpecifierSet


@dataclass(frozen=True)
class Field:
    kind: str
    expect: str
    spec: dict[str, "Field"] | None = None
    check: Callable[[Any], str | None] | None = None  # returns an error text or None


def enum(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else f"one of {', '.join(repr(c) for c in choices)}"

    return check


def each(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def check_each(values: Any) -> str | None:
        for value in values:
            problem = check(value)
            if problem:
                return f"{problem} (got {value!r})"
        return None

    return check_each


def specifier(value: Any) -> str | None:
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        return "a PEP 440 version specifier such as '==2.8.0' or '>=0.6,<0.8'"
    return None


def matches(pattern: str, expect: str) -> Callable[[Any], str | None]:
    regex = re.compile(pattern)
    return lambda value: None if regex.fullmatch(value) else expect


def regex(value: Any) -> str | None:
    """A Python regular expression (searched, case-insensitively, in a device name)."""
    try:
        re.compile(value)
    except re.error as exc:
        return f"a valid regular expression ({exc})"
    return None
