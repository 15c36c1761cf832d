"""Which uv binary envkit runs (setup's installs and the PyPI lock layer)."""

from __future__ import annotations

import shutil

from envkit.errors import EnvkitError


def find_uv() -> str:
    """uv from envkit's own dependency, else the one on PATH."""
    try:
        import uv  # the PyPI package ships the binary

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise EnvkitError("uv is not installed", fix="pip install uv (envkit builds environments with it)")
