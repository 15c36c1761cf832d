"""Accelerator backends behind one Protocol (base.Backend)."""

from __future__ import annotations

from envkit.backends.base import Backend


def get_backend(name: str) -> Backend:
    if name == "cuda":
        from envkit.backends.cuda import CudaBackend

        return CudaBackend()
    if name == "ascend":
        from envkit.backends.ascend import AscendBackend

        return AscendBackend()
    if name == "cpu":
        from envkit.backends.cpu import CpuBackend

        return CpuBackend()
    raise KeyError(name)


BACKENDS = ("cuda", "ascend", "cpu")
