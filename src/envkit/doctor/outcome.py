"""What a check is and what it returns: the doctor's result types (no I/O, no envkit imports).

Apart from model.py's Context so that doctor/accel.py (which builds a failing Check for a
backend whose checks do not import) and Context (which asks doctor/accel.py for the backend in
use) import each other's pieces without a cycle; model.py re-exports these names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum
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




@dataclass(frozen=True)
class Check:
    id: str
    title: str
    fn: Callable[[Any], Outcome]  # a function of model.py's Context (model.CheckFn)
    needs: tuple[str, ...] = ()  # check ids that must not fail/error for this one to run
    slow: bool = False  # the smoke: left out by --no-smoke

    @property
    def category(self) -> str:
        return self.id.split(".", 1)[0]
