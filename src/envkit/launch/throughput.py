"""steps/s and samples/s from lerobot's own log lines. Pure.

lerobot logs, on the main process, `step:S smpl:N ... updt_s:U data_s:D` every --log_freq steps
(MetricsTracker; smpl counts samples over all processes) and `Effective batch size: B x P = G`.
A step takes U + D seconds, so steps/s = 1 / (U + D) and samples/s = G / (U + D): the way the
Atlas ACT recipe reports its 760 samples/s on 8 NPUs (512 / (0.3191 + 0.3544)). The first logged
step carries the warm-up (compilation, first batch) and is left out when later ones exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

LINE = re.compile(r"step:(\S+)\s.*?updt_s:([0-9.]+)\s+data_s:([0-9.]+)")
EFFECTIVE = re.compile(r"[Ee]ffective batch size:?\s*(?:\d+\s*x\s*\d+\s*=\s*)?(\d+)")


@dataclass(frozen=True)
class Throughput:
    steps_per_s: float
    samples_per_s: float | None
    global_batch: int | None
    steps_measured: int

    def text(self) -> str:
        samples = f", {self.samples_per_s:.1f} samples/s (global batch {self.global_batch})" if self.samples_per_s else ""
        return f"{self.steps_per_s:.2f} steps/s{samples}, mean of {self.steps_measured} logged step(s) as lerobot times them (updt_s + data_s)"

    def to_dict(self) -> dict[str, Any]:
        return {"steps_per_s": round(self.steps_per_s, 4),
                "samples_per_s": round(self.samples_per_s, 2) if self.samples_per_s else None,
                "global_batch": self.global_batch, "steps_measured": self.steps_measured}


def summarise(log: str, fallback_batch: int | None = None) -> Throughput | None:
    times = [float(u) + float(d) for _s, u, d in LINE.findall(log)]
    if not times:
        return None
    if len(times) > 1:
        times = times[1:]
    mean = sum(times) / len(times)
    if mean <= 0:
        return None
    match = EFFECTIVE.search(log)
    batch = int(match.group(1)) if match else fallback_batch
    return Throughput(1.0 / mean, batch / mean if batch else None, batch, len(times))
