"""Which Python a profile allows, in the order it prefers them (pure).

A profile's `python` is one of:
- `"3.11"`: exactly that minor version (schema 1's form, still accepted);
- a PEP 440 range, `">=3.10"` or `">=3.10,<3.14"`: any minor in it, newest first;
- a preference list, `["3.12", "3.11"]`: those, in that order.
The resolver then keeps the ones lerobot, the torch tuple and the accelerator's wheels support.
"""

from __future__ import annotations

import re
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

MINOR = re.compile(r"3\.\d+")
# The CPython minors envkit can judge: a range is cut to these (the matrix's torch rows go further
# only when a new Python has torch wheels, which then means a new matrix row anyway).
KNOWN_MINORS = tuple(f"3.{n}" for n in range(8, 16))
UV_DOWNLOAD = "uv:download"  # in a host's interpreter map: a Python uv fetches when the venv is created


def check_value(value: Any) -> str | None:
    """The profile schema's check: None when `value` is a valid `python` field."""
    if isinstance(value, list):
        if not value or not all(isinstance(v, str) and MINOR.fullmatch(v) for v in value):
            return "a non-empty list of minor versions like [\"3.12\", \"3.11\"]"
        return None
    if not isinstance(value, str):
        return "a minor version like '3.10', a range like '>=3.10', or a list like [\"3.12\", \"3.11\"]"
    if MINOR.fullmatch(value):
        return None
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        return "a minor version like '3.10', or a PEP 440 range like '>=3.10,<3.14'"
    return None


def _key(minor: str) -> tuple[int, int]:
    major, _, rest = minor.partition(".")
    return int(major), int(rest)


def candidates(value: str | list[str], known: tuple[str, ...] = KNOWN_MINORS) -> list[str]:
    """The minors `value` allows, most preferred first (a range: newest first)."""
    if isinstance(value, list):
        return list(dict.fromkeys(value))
    if MINOR.fullmatch(value):
        return [value]
    spec = SpecifierSet(value)
    return sorted((m for m in known if spec.contains(m + ".0", prereleases=True)), key=_key, reverse=True)


def describe(value: str | list[str]) -> str:
    if isinstance(value, list):
        return "one of " + ", ".join(value) + " (in that order)"
    return value if not MINOR.fullmatch(value) else f"=={value}"


def newest_first(minors: list[str]) -> list[str]:
    return sorted(dict.fromkeys(minors), key=_key, reverse=True)


def minor_of(version: str) -> str:
    return ".".join(version.split(".")[:2])
