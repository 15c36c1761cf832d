"""Which uv binary envkit runs (setup's installs and the PyPI lock layer)."""

from __future__ import annotations

import os
import shutil

from envkit.errors import EnvkitError

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
        import uv  # the PyPI package ships the binary

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise EnvkitError("uv is not installed", fix="pip install uv (envkit builds environments with it)")
