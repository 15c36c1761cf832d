"""What a check is and what it returns: the doctor's data model (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit.setup.choices import SetupChoices

if TYPE_CHECKING:
    from envkit.backends.base import Backend
    from envkit.hostfacts import HostFacts
    from envkit.profiles import Profile
    from envkit.resolve import Resolved


class Status(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"  # the check itself raised: a bug in envkit or a fact it could not read


@dataclass
class CheckResult:
    id: str
    status: Status
    summary: str
    details: str = ""
    fix: str | None = None
    duration_ms: float = 0.0  # the check's own time; the probe that gathered its facts is timed once

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


@dataclass
class Outcome:
    """What a check function returns; the registry adds the id and the timing."""

    status: Status
    summary: str
    details: str = ""
    fix: str | None = None


def ok(summary: str, details: str = "") -> Outcome:
    return Outcome(Status.OK, summary, details)


def warn(summary: str, fix: str | None = None, details: str = "") -> Outcome:
    return Outcome(Status.WARN, summary, details, fix)


def fail(summary: str, fix: str | None = None, details: str = "") -> Outcome:
    return Outcome(Status.FAIL, summary, details, fix)


def skip(summary: str, details: str = "") -> Outcome:
    return Outcome(Status.SKIP, summary, details)


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
        from envkit.doctor.facts import typed_host

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
        from envkit.doctor import accel

        return accel.in_use(self.host, self.profile)

    def accelerator(self) -> str:
        """The name of `backend` (kept for callers written before backends were asked; branch on the backend's attributes, not this)."""
        return str(self.backend.name)

    def uses(self, name: str) -> bool:
        """Whether backend `name` is in play: the profile names it, or its own detection finds it here."""
        from envkit.doctor import accel

        return self.backend.name == name or bool(accel.named(name).detected(self.host))


CheckFn = Callable[[Context], Outcome]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    fn: CheckFn
    needs: tuple[str, ...] = ()  # check ids that must not fail/error for this one to run
    slow: bool = False  # the smoke: left out by --no-smoke

    @property
    def category(self) -> str:
        return self.id.split(".", 1)[0]
