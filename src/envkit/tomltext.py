"""TOML text to data, parsed once per text (pure: no file is read here).

One command reads lerobot's pyproject for its version, its requires-python and its pins; the
second and third readers get the first parse. The cached dict is shared: callers that edit
what they get take a copy (pins does).
"""

from __future__ import annotations

import functools
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


@functools.lru_cache(maxsize=4)
def loads_cached(text: str) -> dict:
    """tomllib.loads(text), once per text. Read the result, never change it."""
    return tomllib.loads(text)
