"""`envkit bundle --check`: what a bundle holds against its profile, platform and lock, and what is missing."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from envkit.bundle import archive, contents
from envkit.bundle.manifest import KINDS, Manifest
from envkit.lock import read_lock
from envkit.profiles import load_profile
from envkit.resolve import resolve


def compare(manifest: Manifest, locked: list[contents.Want], need: dict[str, str]) -> list[dict[str, str]]:
    """Missing members: each kind the profile needs, each package the lock names for the platform (pure)."""
    have = {m.path for m in manifest.members}
    kinds = {m.kind for m in manifest.members}
    out = [{"kind": kind, "name": kind, "why": why} for kind, why in need.items() if kind not in kinds]
    out += [{"kind": w.kind, "name": f"{w.name} {w.version}", "why": f"the lock names {w.path}"}
            for w in locked if w.kind in ("wheel", "conda") and w.path not in have]
    return out + list(manifest.missing)


def _locked_wants(files: dict[str, bytes], manifest: Manifest) -> list[contents.Want]:
    """What the bundled lock names for the platform (its files written to a temp dir for the lock reader)."""
    with tempfile.TemporaryDirectory(prefix="envkit-bundle-check-") as tmp:
        for name, data in files.items():
            (Path(tmp) / Path(name).name).write_bytes(data)
        return contents.lock_members(read_lock(Path(tmp)), manifest.platform)


def check(bundle: Path) -> dict[str, Any]:
    """Every member hashed; contents listed by kind; damaged and missing members named."""
    lock_files: dict[str, bytes] = {}
    manifest, problems = archive.scan(bundle, keep=lambda name: name.startswith("lockfiles/") and name.count("/") == 2,
                                      kept=lock_files)
    locked: list[contents.Want] = []
    if lock_files and not any(p.startswith(manifest.lock) for p in problems):
        locked = _locked_wants(lock_files, manifest)
    try:
        prof = load_profile(manifest.profile)
        patch = resolve(prof, None, None, manifest.platform).lerobot.get("patch")
        environment = prof.for_platform(manifest.platform).environment
    except Exception:  # noqa: BLE001 - a user's profile unknown here: judge by the bundled members alone
        patch, environment = None, "venv"
    need = contents.expected_kinds(patch, environment == "conda" and any(w.kind == "conda" for w in locked), bool(manifest.system))
    by_kind: dict[str, dict[str, int]] = {}
    for m in manifest.members:
        entry = by_kind.setdefault(m.kind, {"members": 0, "bytes": 0})
        entry["members"] += 1
        entry["bytes"] += m.size
    return {"bundle": str(bundle), "profile": manifest.profile, "platform": manifest.platform, "python": manifest.python,
            "envkit_version": manifest.envkit_version, "digest": manifest.digest(),
            "contents": {k: by_kind[k] for k in KINDS if k in by_kind}, "system": manifest.system,
            "damaged": problems, "missing": compare(manifest, locked, need), "ok": not problems}
