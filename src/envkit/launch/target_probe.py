"""Run BY THE TARGET interpreter (stdlib, plus torch when asked): what a launch needs from the env.

Usage: python target_probe.py [DEVICE_COUNT_EXPRESSION]. Prints one JSON object: where lerobot is
(found, not imported), its distribution's version and console scripts, the CPUs this process may
use, free shared memory, the HF variables, and, with an expression, how many devices torch sees
with the visible-devices variable the launch will set.
"""

import importlib.metadata
import importlib.util
import json
import os
import sys


def main(count_code: str | None) -> None:
    out = {"python": sys.executable}
    spec = importlib.util.find_spec("lerobot")
    out["lerobot_dir"] = list(spec.submodule_search_locations or [None])[0] if spec else None
    try:
        dist = importlib.metadata.distribution("lerobot")
        out["lerobot_version"] = dist.version
        out["console_scripts"] = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    except importlib.metadata.PackageNotFoundError:
        out["lerobot_version"] = None
        out["console_scripts"] = {}
    out["cpu_count"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        st = os.statvfs("/dev/shm")
        out["shm_free_bytes"] = st.f_bavail * st.f_frsize
    except OSError:
        out["shm_free_bytes"] = None
    out["env"] = {k: v for k, v in os.environ.items() if k.startswith(("HF_", "ACCELERATE_")) or k in ("OMP_NUM_THREADS",)}
    if count_code:
        try:
            import torch  # noqa: F401  (the expression uses it)

            out["device_count"] = int(eval(count_code, {"torch": torch}))  # the backend's own expression
        except BaseException as exc:  # a broken accelerator stack is a fact to report, not a crash
            out["device_count"] = None
            out["device_error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
