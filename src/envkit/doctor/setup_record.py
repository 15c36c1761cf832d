"""What `envkit setup` recorded in a prefix that the doctor needs to judge it (no flags required).

Setup writes its choices into <prefix>/.envkit/state.json ("request"): the profile's name and the
file it came from (a user's profile that `extends` a built-in one is found again by its file),
the lerobot source, the overrides it installed with, the backbone-weights choice and the platform.
The doctor takes these as defaults; an explicit flag still wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RecordedChoices:
    state: Path | None = None  # the state file the choices came from
    profile: str | None = None
    profile_file: str | None = None  # None for a built-in profile (found by name wherever envkit is installed)
    lerobot: str | None = None  # the SRC setup was given; None: the profile's own
    overrides: tuple[str, ...] = ()
    no_pretrained_backbone: bool = False
    weights: str | None = None  # where setup placed the ResNet18 file (TORCH_HOME, set by the hooks)
    platform: str | None = None
    extras: tuple[str, ...] = ()  # lerobot extras setup installed (--extras and the profile's)
    python: str | None = None  # the Python minor setup resolved (a profile may allow several)

    def profile_ref(self) -> str | None:
        """What to pass to load_profile: the recorded file for a user's profile, else the name."""
        return self.profile_file or self.profile

    @classmethod
    def from_request(cls, state: Path | None, profile: str | None, request: dict[str, Any]) -> "RecordedChoices":
        return cls(
            state=state,
            profile=request.get("profile") or profile,
            profile_file=request.get("profile_file"),
            lerobot=request.get("lerobot"),
            overrides=tuple(request.get("overrides") or ()),
            no_pretrained_backbone=bool(request.get("no_pretrained_backbone")),
            weights=request.get("weights"),
            platform=request.get("platform"),
            extras=tuple(request.get("extras") or ()),
            python=request.get("python"),
        )


def recorded_choices(prefix: Path | None) -> RecordedChoices:
    """The choices recorded in an envkit prefix; empty for any other environment."""
    from envkit.state import load_state, state_path

    if prefix is None:
        return RecordedChoices()
    state = load_state(Path(prefix))  # a corrupt state file is an EnvkitError naming it
    if state is None:
        return RecordedChoices()
    return RecordedChoices.from_request(state_path(Path(prefix)), state.profile, state.request or {})
