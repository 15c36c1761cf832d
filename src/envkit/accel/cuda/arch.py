"""CUDA policy arithmetic: which compute capabilities a build's cubins/PTX serve, and driver floors.

Part of the CUDA backend (the matrix in envkit.compat holds the sourced data: arch lists, floors).
A leaf module: it imports nothing of envkit but errors, so compat can re-export it.
"""

from __future__ import annotations

import re

from envkit.errors import EnvkitError

# The cu128 wheels carry sm_70..sm_120 (research/compat.md 3.2): older GPUs have no kernels.
MIN_COMPUTE_CAPABILITY = (7, 0)


def _parse_arch(text: str) -> tuple[int, int, str]:
    """"sm_86" / "compute_120" / "sm_90a" -> (major, minor, suffix)."""
    m = re.fullmatch(r"(?:sm|compute)_(\d+)(\d)([a-z]?)", text.strip().lower())
    if not m:
        fix = "arch names look like sm_86 or compute_120"
        raise EnvkitError(f"cannot parse CUDA arch {text!r}", fix)
    return int(m[1]), int(m[2]), m[3]


def _parse_cc(cc: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", str(cc))
    if not m:
        raise EnvkitError(f"cannot parse compute capability {cc!r}", "write it like 8.9 or 12.0")
    return int(m[1]), int(m[2])


def capability_supported(archs: list[str], ptx: list[str], cc: str) -> tuple[bool, str]:
    """Can a build with these cubins / PTX run kernels on a GPU of compute capability `cc`?

    A cubin for sm_XY runs on X.Z with Z >= Y (same major only); an "a" suffix cubin runs only
    on exactly X.Y. PTX compute_XY is JIT-compiled by the driver for any cc >= X.Y.
    """
    major, minor = _parse_cc(cc)
    best: tuple[int, str] | None = None
    for a in archs:
        amaj, amin, suffix = _parse_arch(a)
        fits = amaj == major and (amin == minor if suffix == "a" else amin <= minor)
        if fits and (best is None or amin > best[0]):
            best = (amin, a)
    if best is not None:
        return True, f"compute capability {major}.{minor} runs the {best[1]} kernels of this build"
    jit = [p for p in ptx if _parse_arch(p)[:2] <= (major, minor)]
    if jit:
        newest = max(jit, key=lambda p: _parse_arch(p)[:2])
        return True, (
            f"no {major}.x cubin, but the driver can JIT-compile the {newest} PTX for compute "
            f"capability {major}.{minor} (slow first start)"
        )
    listed = " ".join(archs) or "none"
    ptx_text = " ".join(ptx) or "no PTX"
    return False, (
        f"no kernels for compute capability {major}.{minor}: the build has {listed} and {ptx_text}; "
        f"a cubin runs only on GPUs of the same major ({major}.x) with an equal or higher minor"
        + _range_hint(archs, (major, minor))
    )


def _range_hint(archs: list[str], cc: tuple[int, int]) -> str:
    """Say whether the GPU is older or newer than everything the build targets."""
    parsed = sorted((_parse_arch(a)[:2], a) for a in archs)
    if not parsed:
        return ""
    if cc < parsed[0][0]:
        return f" (the build starts at {parsed[0][1]}: this GPU is too old for it)"
    if cc > parsed[-1][0]:
        return f" (the build stops at {parsed[-1][1]}: this GPU is too new for it)"
    return ""


def _driver_tuple(text: str) -> tuple[int, ...]:
    if not re.fullmatch(r"\s*\d+(\.\d+)*\s*", str(text)):
        raise EnvkitError(f"cannot parse NVIDIA driver version {text!r}", "write it like 570.86.10")
    return tuple(int(p) for p in str(text).strip().split("."))


def driver_at_least(driver: str, floor: str) -> bool:
    """Compare dotted driver versions numerically; missing parts count as 0."""
    d, f = _driver_tuple(driver), _driver_tuple(floor)
    width = max(len(d), len(f))
    return d + (0,) * (width - len(d)) >= f + (0,) * (width - len(f))
