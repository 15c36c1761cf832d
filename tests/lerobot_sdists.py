"""Test-time fetch of the real pyproject.toml of every lerobot release on PyPI.

The sdists are not committed: each one is downloaded once (URL and sha256 from PyPI's JSON
API), only its top-level pyproject.toml is extracted, and the result is cached in
`.cache/lerobot-sdists/<version>/pyproject.toml` (gitignored). Tests call `lerobot_pyproject`
and skip with a reason when PyPI cannot be reached.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tarfile
import urllib.request
from pathlib import Path

import pytest

RELEASES = (
    "0.1.0", "0.3.2", "0.3.3",
    "0.4.0", "0.4.1", "0.4.2", "0.4.3", "0.4.4",
    "0.5.0", "0.5.1", "0.6.0", "0.6.1",
)  # fmt: skip

CACHE = Path(os.environ.get("ENVKIT_LEROBOT_SDIST_CACHE",
                            Path(__file__).resolve().parents[1] / ".cache" / "lerobot-sdists"))
# The project-level JSON (not /lerobot/<v>/json, which some mirrors do not serve) lists
# every release's files with their sha256.
_JSON_URL = "https://pypi.org/pypi/lerobot/json"
_TIMEOUT = 30


class Unreachable(Exception):
    """PyPI could not be reached (offline CI): the caller skips."""


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:  # noqa: S310 (https only)
            return response.read()
    except OSError as exc:  # URLError, timeouts, DNS failures are all OSError
        raise Unreachable(f"{url}: {exc}") from exc


@functools.lru_cache(maxsize=1)
def _releases() -> dict[str, list[dict]]:
    return json.loads(_get(_JSON_URL))["releases"]


def _sdist_info(version: str) -> tuple[str, str]:
    for entry in _releases().get(version, []):
        if entry["packagetype"] == "sdist":
            return entry["url"], entry["digests"]["sha256"]
    raise LookupError(f"lerobot {version} has no sdist on PyPI")


def _extract_pyproject(blob: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            # The sdist root is lerobot-X/; only its own pyproject.toml counts.
            if len(parts) == 2 and parts[1] == "pyproject.toml" and member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                return handle.read()
    raise LookupError("no top-level pyproject.toml in the sdist")


def fetch(version: str, cache: Path = CACHE) -> Path:
    """Path of lerobot `version`'s pyproject.toml, downloading it once. Raises Unreachable."""
    target = cache / version / "pyproject.toml"
    if target.is_file():
        return target
    url, sha256 = _sdist_info(version)
    blob = _get(url)
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise Unreachable(f"{url}: sha256 mismatch (truncated download?)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(_extract_pyproject(blob))
    tmp.replace(target)  # atomic: a concurrent test never sees half a file
    return target


def lerobot_pyproject(version: str) -> Path:
    """For tests: the cached pyproject.toml, or pytest.skip when PyPI is unreachable."""
    try:
        return fetch(version)
    except Unreachable as exc:
        pytest.skip(f"PyPI unreachable, cannot fetch lerobot {version} sdist: {exc}")


if __name__ == "__main__":
    for release in RELEASES:
        print(release, fetch(release))


# --- whole sdists (the NPU patch tests, setup's local-tree tests) --------------------------------

REPO_CACHE = Path(__file__).resolve().parents[1] / ".cache"


def sdist_tarball(version: str) -> Path:
    """The whole lerobot `version` sdist under .cache/ (fetched from PyPI once, sha256-checked); skips offline."""
    target = REPO_CACHE / f"lerobot-{version}" / f"lerobot-{version}.tar.gz"
    if target.is_file():
        return target
    try:
        url, sha256 = _sdist_info(version)
        blob = _get(url)
    except Unreachable as exc:
        pytest.skip(f"PyPI unreachable, cannot fetch the lerobot {version} sdist: {exc}")
    if hashlib.sha256(blob).hexdigest() != sha256:
        pytest.skip(f"lerobot {version} sdist download was truncated (sha256 mismatch)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(blob)
    tmp.replace(target)
    return target


def extract(version: str, dest: Path) -> Path:
    """Unpack the lerobot `version` sdist under `dest`; return its source root."""
    with tarfile.open(sdist_tarball(version)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover (Python < 3.11.4)
            tar.extractall(dest)  # noqa: S202 (PyPI sdist verified by sha256)
    root = dest / f"lerobot-{version}"
    assert (root / "src" / "lerobot" / "__init__.py").is_file()
    return root
