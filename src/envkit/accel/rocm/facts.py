"""What `envkit detect` records about AMD GPUs (HostFacts.accelerators["rocm"], the JSON object
envkit.accel.rocm.host.collect returns), and the gfx knowledge the backend and its checks share."""

from __future__ import annotations

from typing import Any

NAME = "rocm"

# HSA_OVERRIDE_GFX_VERSION makes the ROCm runtime load another target's code objects: the documented
# workaround for RDNA parts a wheel has no code objects for (AMD: "export HSA_OVERRIDE_GFX_VERSION=11.0.0,
# which would make ROCm report your GPU as gfx1100", ROCm/ROCm discussion #4188; 10.3.0 for gfx1031,
# ROCm/ROCm#2353). Same ISA family only; never needed for a target the wheel lists.
OVERRIDES = {
    "gfx1101": ("11.0.0", "gfx1100"), "gfx1102": ("11.0.0", "gfx1100"), "gfx1103": ("11.0.0", "gfx1100"),
    "gfx1031": ("10.3.0", "gfx1030"), "gfx1032": ("10.3.0", "gfx1030"), "gfx1034": ("10.3.0", "gfx1030"),
    "gfx1035": ("10.3.0", "gfx1030"), "gfx1036": ("10.3.0", "gfx1030"),
}


def rocm(host: Any) -> dict[str, Any]:
    """The host's ROCm facts ({} when none were read, e.g. a hand-written --host file)."""
    found = (getattr(host, "accelerators", None) or {}).get(NAME) if host is not None else None
    return dict(found) if isinstance(found, dict) else {}


def gpus(host: Any) -> list[dict[str, Any]]:
    return [g for g in rocm(host).get("gpus") or [] if isinstance(g, dict)]


def gfx_targets(host: Any) -> list[str]:
    """The distinct gfx targets of the host's GPUs, in GPU order."""
    return list(dict.fromkeys(str(g["gfx"]) for g in gpus(host) if g.get("gfx")))


def base_gfx(arch: str | None) -> str | None:
    """gcnArchName 'gfx942:sramecc+:xnack-' -> 'gfx942'."""
    return arch.split(":", 1)[0].strip().lower() if arch else None


def override_for(gfx: str, archs: list[str] | tuple[str, ...]) -> tuple[str, str] | None:
    """(HSA_OVERRIDE_GFX_VERSION value, target it borrows) when a same-family target is in `archs`."""
    found = OVERRIDES.get(gfx)
    return found if found and found[1] in archs else None
