"""What a check is and what it returns: the doctor's data model (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


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
    host: dict[str, Any]  # host facts as formats.md's JSON (envkit side: NVML, /dev, npu-smi)
    profile: Any | None = None  # envkit.profiles.Profile when --profile is given
    resolved: Any | None = None  # envkit.resolve.Resolved for that profile, when it resolves
    target: Any | None = None  # envkit.doctor.target.Target (None in unit tests)
    dataset: Path | None = None
    environ: dict[str, str] = field(default_factory=dict)  # the environment the target runs with
    results: dict[str, CheckResult] = field(default_factory=dict)  # earlier checks, by id
    scratch: dict[str, Any] = field(default_factory=dict)  # hand-over between smoke steps

    # --- convenience views over the probe -----------------------------------------
    def section(self, name: str) -> dict[str, Any]:
        value = self.probe.get(name)
        return value if isinstance(value, dict) else {}

    def dist(self, name: str) -> str | None:
        return (self.probe.get("dists") or {}).get(name)

    def python_cmd(self) -> str:
        return str(self.probe.get("python", {}).get("executable") or "python")

    def accelerator(self) -> str:
        """The accelerator training should use: the profile's, else what the host has."""
        if self.profile is not None:
            return str(getattr(self.profile, "accelerator", "cpu"))
        if (self.host.get("nvidia") or {}).get("gpus"):
            return "cuda"
        ascend = self.host.get("ascend") or {}
        if ascend.get("device_nodes") or (ascend.get("npu_smi") or {}).get("chips"):
            return "ascend"
        return "cpu"


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
