"""The one rule for a tar member envkit unpacks (a bundle, a lerobot source archive): it must land
inside the destination, so a relative name without '..', and no link that could point out of it."""

from __future__ import annotations

import tarfile
from pathlib import PurePosixPath


def safe_member(info: tarfile.TarInfo) -> bool:
    parts = PurePosixPath(info.name).parts
    return (bool(parts) and not info.name.startswith("/") and ".." not in parts
            and not info.issym() and not info.islnk())
