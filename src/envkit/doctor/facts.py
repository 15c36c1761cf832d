"""The host facts the doctor judges, always as `HostFacts`, whatever they were read from.

A live doctor gets them from `envkit.host.detect`; a replayed scenario from its host.json. The
transcribed scenarios under tests/data/probe carry only what their public source showed (no OS,
no host Python): those facts are read as unknown rather than refused, because no check reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envkit.hostfacts import SCHEMA_VERSION, HostFacts

UNKNOWN = "unknown"  # a fact the source did not give (never a value a check compares against)

# Keys HostFacts requires that a partial transcription may leave out, and what stands for them.
_UNKNOWN_REQUIRED: dict[str, Any] = {
    "os": {"system": UNKNOWN, "release": UNKNOWN},
    "python": {"version": UNKNOWN},
    "arch": UNKNOWN,
    "platform": UNKNOWN,
}


def typed_host(data: "HostFacts | Mapping[str, Any]", source: str = "<host facts>") -> HostFacts:
    """HostFacts from HostFacts or from formats.md's JSON (partial files: unknown for what is missing)."""
    if isinstance(data, HostFacts):
        return data
    filled = {"schema_version": SCHEMA_VERSION, **{k: v for k, v in _UNKNOWN_REQUIRED.items() if k not in data}, **data}
    return HostFacts.from_dict(filled, source)


def known_arch(host: HostFacts) -> str | None:
    return host.arch if host.arch and host.arch != UNKNOWN else None
