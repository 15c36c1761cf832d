"""The recorded METADATA of lerobot releases (tests/data/lerobot-metadata) as resolve()'s extras_of."""

from __future__ import annotations

from pathlib import Path

from envkit.lerobot_meta import provides_extra

DIR = Path(__file__).parent / "data" / "lerobot-metadata"


def recorded_extras(version: str) -> list[str] | None:
    """Provides-Extra of a recorded release; None (unknown, as offline) for one not recorded."""
    path = DIR / f"lerobot-{version}.METADATA"
    return provides_extra(path.read_text()) if path.is_file() else None
