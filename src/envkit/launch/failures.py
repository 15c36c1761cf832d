"""Recognise the failures of a launched run that the guides met, and say the fix. Pure: text in, hints out.

Generic to every launcher here (port taken, a rank that died, an output directory that exists);
what an accelerator's runtime prints (NCCL, HCCL, CANN, lerobot without NPU support) comes from
its backend's failure_hints().
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from envkit.accel.base import LaunchHint

GENERIC = (
    LaunchHint("port.in_use", r"EADDRINUSE|[Aa]ddress already in use",
               "the rendezvous port was taken by another process when the run started",
               "launch again (envkit launch picks a free port each time); if it repeats, stop leftover training "
               "processes of an earlier run (`ps -ef | grep lerobot`)"),
    LaunchHint("output_dir.exists", r"FileExistsError: Output directory .* already exists",
               "the output directory exists and --resume is not set",
               "add --resume=true to continue that run, or choose a new --output_dir (e.g. with a timestamp)"),
    LaunchHint("rank.killed", r"Signal 9 \(SIGKILL\)|exitcode\s*:\s*-9\b",
               "a rank was killed (SIGKILL): usually the kernel's out-of-memory killer",
               "lower --batch_size or --num_workers (each rank starts its own dataloader workers); `dmesg | grep -i oom` confirms"),
    LaunchHint("rank.died", r"ChildFailedError|Root Cause \(first observed failure\)|failed \(exitcode: -?\d+\)|CalledProcessError: Command .* returned non-zero exit status",
               "a rank exited with an error and the launcher stopped the others",
               "the first traceback above (its rank is in the launcher's 'Root Cause' block) is the cause; fix it and launch again"),
)


@dataclass(frozen=True)
class Explanation:
    id: str
    summary: str
    fix: str
    line: str  # the first line of the output that matched

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "summary": self.summary, "fix": self.fix, "line": self.line}


def explain(log: str, hints: Iterable[LaunchHint]) -> list[Explanation]:
    """Every hint whose pattern occurs in the log, the accelerator's first, each once, in that order."""
    found = []
    lines = log.splitlines()
    for hint in [*hints, *GENERIC]:
        rx = re.compile(hint.pattern)
        line = next((ln.strip() for ln in lines if rx.search(ln)), None)
        if line is not None and all(e.id != hint.id for e in found):
            found.append(Explanation(hint.id, hint.summary, hint.fix, line[:300]))
    return found
