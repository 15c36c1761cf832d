"""The bundle's manifest.json: every member with its sha256 and size, and what the system must provide.

Pure data: no I/O here. The manifest is the tar's first member and is not listed in itself; its
own sha256 names the bundle (`Manifest.digest`). No timestamps or host names: the same inputs give
the same bytes, so the same tar.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from envkit.errors import EnvkitError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
# Member kinds, in the order --check lists them.
KINDS = ("profile", "lock", "wheel", "envkit", "source", "patch", "conda", "weights", "dataset")


@dataclass(frozen=True)
class Member:
    path: str  # inside the tar, POSIX, relative
    sha256: str
    size: int
    kind: str
    name: str = ""  # package / asset name, for messages and --check
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "kind": self.kind,
                "name": self.name, "version": self.version}


@dataclass(frozen=True)
class Manifest:
    profile: str
    profile_file: str  # the member holding the profile (profile/<name>.toml)
    platform: str
    python: str
    envkit_version: str
    members: tuple[Member, ...]
    system: dict[str, Any] = field(default_factory=dict)  # {"ffmpeg": {"sonames": [...], "install": "..."}}
    missing: tuple[dict[str, str], ...] = ()  # {kind, name, why}: what the bundle could not hold
    lock: str = ""  # lockfiles/<profile> inside the tar ("" when built without a lock)

    def to_json(self) -> str:
        data = {"schema_version": SCHEMA_VERSION, "profile": self.profile, "profile_file": self.profile_file,
                "platform": self.platform, "python": self.python, "envkit_version": self.envkit_version,
                "lock": self.lock, "system": self.system, "missing": list(self.missing),
                "members": [m.to_dict() for m in sorted(self.members, key=lambda m: m.path)]}
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def member(self, path: str) -> Member | None:
        return next((m for m in self.members if m.path == path), None)

    def of_kind(self, kind: str) -> list[Member]:
        return [m for m in self.members if m.kind == kind]

    def size(self) -> int:
        return sum(m.size for m in self.members)

    @classmethod
    def from_json(cls, text: str, source: str) -> "Manifest":
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError(f"a JSON {type(data).__name__}, not an object")
            if data.get("schema_version") != SCHEMA_VERSION:
                raise ValueError(f"schema_version {data.get('schema_version')!r}, this envkit reads {SCHEMA_VERSION}")
            members = tuple(Member(m["path"], m["sha256"], int(m["size"]), m["kind"], m.get("name", ""), m.get("version", ""))
                            for m in data["members"])
            for key in ("profile", "profile_file", "platform", "python", "envkit_version"):
                if not isinstance(data[key], str):
                    raise TypeError(f"{key} is {type(data[key]).__name__}, not a string")
            for m in members:
                if not all(isinstance(v, str) for v in (m.path, m.sha256, m.kind, m.name, m.version)):
                    raise TypeError(f"member {m.path!r} has a field that is not a string")
            system = data.get("system") or {}
            ffmpeg = system.get("ffmpeg") if isinstance(system, dict) else None
            if not isinstance(system, dict) or (ffmpeg is not None and not (
                    isinstance(ffmpeg, dict) and isinstance(ffmpeg.get("install"), str)
                    and isinstance(ffmpeg.get("sonames"), list) and all(isinstance(n, str) for n in ffmpeg["sonames"]))):
                raise TypeError("system is not {'ffmpeg': {'sonames': [...], 'install': '...'}}")
            missing = tuple(data.get("missing") or ())
            if not all(isinstance(g, dict) and all(isinstance(g.get(k), str) for k in ("kind", "name", "why")) for g in missing):
                raise TypeError("missing holds an entry that is not {'kind', 'name', 'why'}")
            return cls(data["profile"], data["profile_file"], data["platform"], data["python"], data["envkit_version"],
                       members, dict(system), missing, str(data.get("lock", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EnvkitError(f"{source}: its {MANIFEST} is not an envkit bundle manifest ({type(exc).__name__}: {exc})",
                              fix="build the bundle again with `envkit bundle` (the same envkit version installs it)") from None
