"""Which extras a lerobot release provides, from its own metadata (Provides-Extra).

From 0.6 lerobot moved what training needs (datasets, PyAV/torchcodec, accelerate, wandb) out of
its base requirements into extras: `lerobot[training]` = dataset + accelerate + wandb. envkit
keeps no list of them: it reads the release's METADATA (the index's PEP 658 file, or a range read
of the wheel, through matrixcheck's client), a tree's pyproject, or the installed distribution,
and asks for the extra named `training` where the release provides one.

The METADATA read from the index is cached in envkit's cache (releases never change), so a
resolve is repeatable offline once it has run connected.
"""

from __future__ import annotations

import email.parser
import os
from collections.abc import Callable
from pathlib import Path

from envkit.cachedir import cache_root, read_own, write_quietly
from envkit.compat import matrix
from envkit.pypi_index import IndexClient
from envkit.pipconfig import read_pip_config

TRAINING_EXTRA = "training"  # the name lerobot gives the extra that `lerobot-train` needs

ExtrasOf = Callable[[str], "list[str] | None"]  # release version -> its Provides-Extra, None when unknown


def provides_extra(metadata_text: str) -> list[str]:
    """The Provides-Extra fields of a METADATA text, as written."""
    message = email.parser.Parser().parsestr(metadata_text, headersonly=True)
    return list(message.get_all("Provides-Extra") or [])


def training_extras(provided: list[str]) -> list[str]:
    """The extras `lerobot-train` needs from a release that provides `provided` (none before 0.6)."""
    return [TRAINING_EXTRA] if TRAINING_EXTRA in provided else []


def _cache_file(version: str) -> Path:
    return cache_root() / "lerobot-metadata" / f"lerobot-{version}.METADATA"


def from_index(version: str) -> list[str] | None:
    """Provides-Extra of lerobot==`version` from the cache, else the index pip is configured with; None when unreachable."""
    cached = read_own(_cache_file(version))
    if cached is not None:
        return provides_extra(cached.decode("utf-8", "replace"))

    sources = read_pip_config()

    index = sources.index_url or matrix().index_url("pypi")  # pip's own default when none is configured
    try:
        with IndexClient(index, timeout=10.0, cert=_trust(sources.cert)) as client:
            wheels = [f for f in client.files("lerobot") if f.version == version and f.is_wheel and not f.yanked]
            if not wheels:
                return None
            text = client.metadata(wheels[0])
    except Exception:  # noqa: BLE001 - offline or a broken index: the extras are then unknown, said in the plan
        return None
    write_quietly(_cache_file(version), text.encode())
    return provides_extra(text)


def _trust(cert: str | None) -> str | None:
    """The CA bundle pip would trust: its `cert`, REQUESTS_CA_BUNDLE/SSL_CERT_FILE, else the system's (requests'
    own certifi bundle lacks a lab's TLS-intercepting CA, which the system store holds)."""
    import ssl

    paths = ssl.get_default_verify_paths()
    for candidate in (cert, os.environ.get("REQUESTS_CA_BUNDLE"), os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def from_pyproject(data: dict) -> list[str]:
    """A tree's extras: the keys of [project.optional-dependencies]."""
    return list((data.get("project", {}) or {}).get("optional-dependencies", {}) or {})
