"""The doctor's report as one type: what `--json` prints, `--report` renders and setup's doctor step reads.

One dataclass with a lossless JSON round trip, so a reader (setup's doctor step) cannot ask for a key
the writer never writes: both sides go through `DoctorReport`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from envkit.doctor.model import CheckResult, Status

BAD = (Status.FAIL, Status.ERROR)


@dataclass
class DoctorReport:
    envkit_version: str
    target: dict[str, Any] | None
    checks: list[CheckResult]
    profile: str | None = None  # the profile's name
    profile_file: str | None = None  # the file it was loaded from (a user's profile, or the built-in's)
    inputs_from: str | None = None  # <prefix>/.envkit/state.json when setup's record supplied the defaults
    lerobot: str | None = None  # the lerobot SRC judged against (None: the profile's)
    overrides: list[str] = field(default_factory=list)
    no_pretrained_backbone: bool = False
    probe_seconds: float | None = None  # one probe gathers every fact; the checks then judge them
    fail_on: str = "fail"
    # The tuple the env resolved to, flat (torch, torchcodec, ffmpeg soname, driver, ...), so
    # `envkit fleet report` can compare hosts key by key.
    versions: dict[str, Any] = field(default_factory=dict)
    # What the installed lerobot accepts and does, from its own config classes (envkit.lerobot_caps),
    # and the training command envkit builds from it (setup's closing hint); None: not probed.
    lerobot_caps: dict[str, Any] | None = None
    train_command: str | None = None

    @property
    def bad_statuses(self) -> tuple[Status, ...]:
        return BAD + ((Status.WARN,) if self.fail_on == "warn" else ())

    @property
    def ok(self) -> bool:
        return not any(c.status in self.bad_statuses for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status in self.bad_statuses]

    @property
    def counts(self) -> dict[str, int]:
        return {s.value: n for s in Status if (n := sum(c.status == s for c in self.checks))}

    def summary_text(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in self.counts.items())

    def failure_text(self, limit: int = 6) -> str:
        """The failed checks with their fixes, for a one-paragraph error."""
        parts = [f"{c.id} ({c.summary}" + (f"; fix: {c.fix}" if c.fix else "") + ")" for c in self.failed[:limit]]
        more = len(self.failed) - limit
        return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "envkit_version": self.envkit_version,
            "target": self.target,
            "profile": self.profile,
            "profile_file": self.profile_file,
            "inputs_from": self.inputs_from,
            "lerobot": self.lerobot,
            "overrides": list(self.overrides),
            "no_pretrained_backbone": self.no_pretrained_backbone,
            "probe_seconds": self.probe_seconds,
            "fail_on": self.fail_on,
            "versions": dict(self.versions),
            "lerobot_caps": self.lerobot_caps,
            "train_command": self.train_command,
            "checks": [c.to_dict() for c in self.checks],
            "summary": self.counts,
            "failed": [c.id for c in self.failed],
            "ok": self.ok,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DoctorReport":
        checks = [CheckResult(c["id"], Status(c["status"]), c.get("summary", ""), c.get("details", ""), c.get("fix"),
                              c.get("duration_ms")) for c in data.get("checks", [])]
        return cls(
            envkit_version=str(data.get("envkit_version", "")), target=data.get("target"), checks=checks,
            profile=data.get("profile"), profile_file=data.get("profile_file"), inputs_from=data.get("inputs_from"),
            lerobot=data.get("lerobot"), overrides=list(data.get("overrides") or []),
            no_pretrained_backbone=bool(data.get("no_pretrained_backbone")), probe_seconds=data.get("probe_seconds"),
            fail_on=str(data.get("fail_on", "fail")), versions=dict(data.get("versions") or {}),
            lerobot_caps=data.get("lerobot_caps") if isinstance(data.get("lerobot_caps"), dict) else None,
            train_command=data.get("train_command"),
        )

    @classmethod
    def from_json(cls, text: str) -> "DoctorReport":
        """ValueError when the text is not a doctor report (e.g. the doctor died before printing one)."""
        data = json.loads(text)
        if not isinstance(data, dict) or "checks" not in data:
            raise ValueError("not an envkit doctor report")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed doctor report: {exc}") from None
