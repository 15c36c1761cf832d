"""Locate envkit's data files: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

# envkit is a regular package on the file system (wheel or checkout); for such a package
# importlib.resources.files("envkit") is this directory, and importing importlib.resources
# (with zipfile, tempfile, random) cost every command a few ms of its start (bench_pins.py).
_PACKAGE = Path(__file__).parent


@cache
def data_dir(name: str) -> Path:
    """Return the directory holding `name` ("profiles" or "patches").

    A wheel carries them as envkit/_data/<name>; an editable install or a checkout
    reads them from the repository root, so edits show up without reinstalling.
    """
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"envkit data directory {name!r} is missing from this installation")


def package_file(name: str) -> Path:
    """A data file shipped beside the modules (e.g. the compatibility matrix)."""
    return _PACKAGE / name
