"""Offline assets: which backbone weights ACT needs (the profile's, else the matrix's default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from envkit.compat import matrix

if TYPE_CHECKING:
    from envkit.profiles import Profile


def act_backbone(profile: "Profile | None" = None) -> dict[str, Any]:
    """{file, url, sha256_prefix|sha256, host}: the profile's [assets.resnet18], else compat.toml's."""
    asset = dict(matrix().act_backbone())
    if profile is not None:
        asset.update(profile.assets.get("resnet18", {}))
    asset["host"] = urlparse(asset.get("url", "")).hostname or ""
    return asset
