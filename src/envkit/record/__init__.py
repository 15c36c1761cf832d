"""Record this machine as a replayable test scenario (`envkit detect --record`, `doctor --record`).

boundary.py wraps the real hardware Boundary and captures every read detect() makes;
scenario.py writes those reads in the layout `envkit.host.RecordedBoundary` replays;
verdicts.py adds the doctor's probe, host facts and verdicts and replays them;
redact.py keeps secrets and personal paths out of everything written.
"""

from __future__ import annotations

RECORD_HINT = (
    "To let envkit's tests replay this machine: `envkit doctor --no-smoke --record envkit-scenario`, "
    "look through the folder (tokens, URL credentials and home user names are redacted), "
    "then zip it and attach it to the issue."
)


def record_hint() -> str:
    """One line for `envkit doctor --report`: how to record and attach a scenario."""
    return RECORD_HINT
