"""What a check is and what it returns: the doctor's data model (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit.accel.registry import get_backend, in_use
from envkit.doctor.facts import typed_host
from envkit.doctor.outcome import Check, CheckResult, Outcome, Status, fail, ok, skip, warn
from envkit.setup_choices import SetupChoices

if TYPE_CHECKING:
    from envkit.accel.base import Backend
    from envkit.hostfacts import HostFacts
    from envkit.profiles import Profile
    from envkit.resolve import Resolved



@dataclass
class Context:
    """Everything a check may look at. Checks are pure functions of this (the smoke aside)."""

    probe: dict[str, Any]  # the probe's JSON document from the target interpreter
    host: "HostFacts"  # host facts (envkit side: NVML, /dev, npu-smi); a formats.md dict is read into HostFacts
    profile: "Profile | None" = None  # when --profile is given (or setup recorded one)
    resolved: "Resolved | None" = None  # that profile's tuple for this host, when it resolves
    target: Any | None = None  # envkit.doctor.target.Target (None in unit tests)
    dataset: Path | None = None
    environ: dict[str, str] = field(default_factory=dict)  # the environment the target runs with
    results: dict[str, CheckResult] = field(default_factory=dict)  # earlier checks, by id
    # What setup recorded in the prefix, with the doctor's own flags applied (--no-pretrained-backbone);
    # a tuple_digest only when the profile checked is the one setup installed.
    setup: SetupChoices = field(default_factory=SetupChoices)
    scratch: dict[str, Any] = field(default_factory=dict)  # hand-over between smoke steps, and this run's options

    def __post_init__(self) -> None:
        self.host = typed_host(self.host)

    # --- convenience views over the probe -----------------------------------------
    def section(self, name: str) -> dict[str, Any]:
        value = self.probe.get(name)
        return value if isinstance(value, dict) else {}

    def dist(self, name: str) -> str | None:
        return (self.probe.get("dists") or {}).get(name)

    def python_cmd(self) -> str:
        return str(self.probe.get("python", {}).get("executable") or "python")

    # --- the accelerator -------------------------------------------------------------
    @property
    def backend(self) -> "Backend":
        """The backend training should use: the profile's, else the one this host has (its `detected`)."""
        return in_use(self.host, self.profile)

    def accelerator(self) -> str:
        """The name of `backend` (kept for callers written before backends were asked; branch on the backend's attributes, not this)."""
        return str(self.backend.name)

    def uses(self, name: str) -> bool:
        """Whether backend `name` is in play: the profile names it, or its own detection finds it here."""
        return self.backend.name == name or bool(get_backend(name).detected(self.host))


CheckFn = Callable[[Context], Outcome]

__all__ = ["Check", "CheckFn", "CheckResult", "Context", "Outcome", "Status", "fail", "ok", "skip", "warn"]
