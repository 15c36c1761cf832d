"""Which uv binary envkit runs (setup's installs and the PyPI lock layer)."""

from __future__ import annotations

import os
import shutil

from envkit.errors import EnvkitError

try:  # the PyPI package ships the binary; a platform without its wheel falls back to PATH
    import uv
except ImportError:  # pragma: no cover
    uv = None

UV_OVERRIDE = "ENVKIT_UV"  # a lab (or a test) that pins its own uv binary names it here


def find_uv() -> str:
    """$ENVKIT_UV, else uv from envkit's own dependency, else the one on PATH."""
    chosen = os.environ.get(UV_OVERRIDE)
    if chosen:
        if os.path.isfile(chosen) and os.access(chosen, os.X_OK):
            return chosen
        raise EnvkitError(f"{UV_OVERRIDE}={chosen} is not an executable file",
                          fix=f"point {UV_OVERRIDE} at a uv binary, or unset it to use the uv envkit installed")
    try:
        if uv is None:
            raise ImportError("the uv package is not installed")
        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise EnvkitError("uv is not installed", fix="pip install uv (envkit builds environments with it)")
