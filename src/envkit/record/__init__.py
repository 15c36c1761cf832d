"""Record this machine as a replayable test scenario (`envkit detect --record`, `doctor --record`).

boundary.py wraps the real hardware Boundary and captures every read detect() makes;
scenario.py writes those reads in the layout `envkit.host.RecordedBoundary` replays;
verdicts.py adds the doctor's probe, host facts and verdicts and replays them;
redact.py keeps secrets and personal paths out of everything written.
"""

from __future__ import annotations
