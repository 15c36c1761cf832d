"""A backend's probe-fragment settings as data: the distributions and environment variables its checks
read in the target interpreter (the fragment module's DISTS and ENV_PREFIXES). The doctor runs the
fragment itself (doctor/accel.py); launch's probe only needs these settings, and reads them here
without importing the doctor.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envkit.accel.base import Backend


def fragment_settings(backend: "Backend") -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """(DISTS, ENV_PREFIXES) of the backend's probe fragment: the distributions and variables its
    checks read, for a probe that runs without the fragment itself (envkit launch's preflight)."""
    dotted = getattr(backend, "probe_fragment", None)
    if not dotted:
        return {}, ()
    try:
        module = importlib.import_module(dotted.partition(":")[0])
    except Exception:
        return {}, ()
    dists = getattr(module, "DISTS", {})
    prefixes = getattr(module, "ENV_PREFIXES", ())
    return ({str(k): tuple(v) for k, v in dists.items()} if isinstance(dists, dict) else {},
            tuple(p for p in prefixes if isinstance(p, str)))
