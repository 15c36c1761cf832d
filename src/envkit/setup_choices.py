"""Setup's choices as one typed record: what `envkit setup` was asked for and what it resolved,
saved in <prefix>/.envkit/state.json under "request" and read back by the doctor (its defaults, and
the digest it checks the environment against) and by `envkit launch`.

The JSON keys are those setup has always written (profile, profile_file, platform, python, lerobot,
overrides, no_pretrained_backbone, weights, extras, from_lock), plus tuple_digest, profile_digest,
host_digest and host (newer setups): a state written before them loads with those unset.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts
    from envkit.resolve import Resolved

# Host facts that move without the machine changing (free space, the calling process's tools and
# environment, derived advice); left out of the host digest so that it flags real changes only.
_VOLATILE = frozenset({"disk_free_bytes", "ram_bytes", "shm_bytes", "python", "tools", "warnings", "suggested_profile",
                       "error", "health", "home_path", "opp_path", "memory_total_bytes", "hbm_total_mb", "container"})
# The plain facts named when the host digest differs (the rest is summed up as "accelerator facts").
HOST_SUMMARY = ("platform", "arch", "glibc", "os")


@dataclass(frozen=True)
class SetupChoices:
    profile: str | None = None
    profile_file: str | None = None  # None for a built-in profile (found by name wherever envkit is installed)
    platform: str | None = None
    python: str | None = None  # the Python minor setup resolved (a profile may allow several)
    lerobot: str | None = None  # the SRC setup was given; None: the profile's own
    overrides: tuple[str, ...] = ()
    no_pretrained_backbone: bool = False
    weights: str | None = None  # where setup placed the ResNet18 file (TORCH_HOME, set by the hooks)
    extras: tuple[str, ...] = ()  # lerobot extras setup installed (--extras and the profile's)
    from_lock: str | None = None
    tuple_digest: str | None = None  # tuple_digest() of what setup resolved and installed
    profile_digest: str | None = None  # the profile's own digest then (an edited profile file changes it)
    host_digest: str | None = None  # host_digest() of the machine setup resolved for
    host: dict[str, Any] = field(default_factory=dict, compare=False)  # HOST_SUMMARY facts then
    state: Path | None = field(default=None, compare=False)  # the state file these came from (not saved)

    def profile_ref(self) -> str | None:
        """What to pass to load_profile: the recorded file for a user's profile, else the name."""
        return self.profile_file or self.profile

    def to_request(self) -> dict[str, Any]:
        data: dict[str, Any] = {"profile": self.profile, "profile_file": self.profile_file, "platform": self.platform,
                                "python": self.python, "lerobot": self.lerobot, "overrides": list(self.overrides),
                                "no_pretrained_backbone": self.no_pretrained_backbone, "weights": self.weights,
                                "extras": list(self.extras), "from_lock": self.from_lock}
        for key in ("tuple_digest", "profile_digest", "host_digest"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.host:
            data["host"] = dict(self.host)
        return data

    @classmethod
    def from_request(cls, request: dict[str, Any], profile: str | None = None, state: Path | None = None) -> "SetupChoices":
        return cls(
            profile=request.get("profile") or profile,
            profile_file=request.get("profile_file"),
            platform=request.get("platform"),
            python=request.get("python"),
            lerobot=request.get("lerobot"),
            overrides=tuple(request.get("overrides") or ()),
            no_pretrained_backbone=bool(request.get("no_pretrained_backbone")),
            weights=request.get("weights"),
            extras=tuple(request.get("extras") or ()),
            from_lock=request.get("from_lock"),
            tuple_digest=request.get("tuple_digest"),
            profile_digest=request.get("profile_digest"),
            host_digest=request.get("host_digest"),
            host=dict(request.get("host") or {}),
            state=state,
        )


def tuple_digest(resolved: "Resolved") -> str:
    """The resolved tuple's digest as the doctor can compare it later: Resolved.digest's data less the
    pin changes setup itself made (a local tree's rewritten pins admit the tuple afterwards) and the
    source's spelling (setup records a tree by its absolute path, the user may have typed ./lerobot)."""
    data = resolved.to_dict()
    for key in ("warnings", "reasons"):
        data.pop(key, None)
    lerobot = {k: v for k, v in (data.get("lerobot") or {}).items() if k != "pin_changes"}
    if isinstance(lerobot.get("source"), dict):
        lerobot["source"] = {k: v for k, v in lerobot["source"].items() if k != "text"}
    data["lerobot"] = lerobot
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in sorted(value.items()) if k not in _VOLATILE}
    if isinstance(value, (list, tuple)):
        return [_stable(v) for v in value]
    return value


def host_digest(facts: "HostFacts") -> str:
    """A digest of the facts that describe the machine (hardware, drivers, OS), not its passing state."""
    return hashlib.sha256(json.dumps(_stable(facts.to_dict()), sort_keys=True, default=str).encode()).hexdigest()[:16]


def host_summary(facts: "HostFacts") -> dict[str, Any]:
    data = facts.to_dict()
    return {key: _stable(data.get(key)) for key in HOST_SUMMARY}


def host_changes(recorded: SetupChoices, facts: "HostFacts") -> list[str]:
    """What differs between the host setup resolved for and this one; [] when unknown or the same."""
    if recorded.host_digest is None or host_digest(facts) == recorded.host_digest:
        return []
    now = host_summary(facts)
    named = [f"{key} {json.dumps(recorded.host.get(key))} -> {json.dumps(now.get(key))}"
             for key in HOST_SUMMARY if recorded.host and recorded.host.get(key) != now.get(key)]
    return named or ["its accelerator or driver facts"]
