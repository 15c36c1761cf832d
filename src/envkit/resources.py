"""Locate envkit's data files: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path


@cache
def data_dir(name: str) -> Path:
    """Return the directory holding `name` ("profiles" or "patches").

    A wheel carries them as envkit/_data/<name>; an editable install or a checkout
    reads them from the repository root, so edits show up without reinstalling.
    """
    packaged = Path(str(resources.files("envkit"))) / "_data" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"envkit data directory {name!r} is missing from this installation")


def package_file(name: str) -> Path:
    """A data file shipped beside the modules (e.g. the compatibility matrix)."""
    return Path(str(resources.files("envkit"))) / name
