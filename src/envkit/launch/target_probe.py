"""Run BY THE TARGET interpreter (stdlib, plus torch when asked): what a launch needs from the env.

Usage: python target_probe.py [SPEC_JSON], SPEC = {"count": EXPRESSION or null, "dists": {key:
[names to try]}, "env_prefixes": [...], "secret_names": PATTERN, "caps": MODULE or null}. With "caps", the lerobot
capability probe copied beside this file (doctor/caps_probe.py) adds its document as "lerobot_caps". Prints one JSON object: where lerobot is (found, not
imported), its distribution's version and console scripts, the versions of torch and the backend's
distributions, the CPUs this process may use, free shared memory, the HF/ACCELERATE and backend
variables (never one that looks like a secret), and, with an expression, how many devices torch
sees with the visible-devices variable the launch will set, and torch's CUDA version.
"""

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import sys


def _version(names):
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return None


def main(spec: dict) -> None:
    out = {"python": sys.executable}
    found = importlib.util.find_spec("lerobot")
    out["lerobot_dir"] = list(found.submodule_search_locations or [None])[0] if found else None
    try:
        dist = importlib.metadata.distribution("lerobot")
        out["lerobot_version"] = dist.version
        out["console_scripts"] = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    except importlib.metadata.PackageNotFoundError:
        out["lerobot_version"] = None
        out["console_scripts"] = {}
    wanted = {"torch": ["torch"], **(spec.get("dists") or {})}
    out["dists"] = {key: v for key, names in wanted.items() if (v := _version(names)) is not None}
    out["cpu_count"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        st = os.statvfs("/dev/shm")
        out["shm_free_bytes"] = st.f_bavail * st.f_frsize
    except OSError:
        out["shm_free_bytes"] = None
    prefixes = ("HF_", "ACCELERATE_", *(spec.get("env_prefixes") or ()))
    # envkit.secrets' one rule for secret names, as data; without it nothing is carried out (fail closed)
    secret = re.compile(spec.get("secret_names") or ".", re.I)
    out["env"] = {k: v for k, v in os.environ.items()
                  if (k.startswith(prefixes) or k == "OMP_NUM_THREADS") and not secret.search(k)}
    count_code = spec.get("count")
    if count_code:
        try:
            import torch  # noqa: F401  (the expression uses it)

            out["torch"] = {attr: getattr(torch.version, attr, None) for attr in spec.get("torch_version") or ()}
            out["device_count"] = int(eval(count_code, {"torch": torch}))  # the backend's own expression
        except BaseException as exc:  # a broken accelerator stack is a fact to report, not a crash
            out["device_count"] = None
            out["device_error"] = f"{type(exc).__name__}: {exc}"
    if spec.get("caps"):
        try:
            out["lerobot_caps"] = _caps(spec["caps"], spec.get("caps_cache"))
        except BaseException as exc:  # the plan then falls back to what the layout says
            out["lerobot_caps_error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out, default=str))


def _fingerprint():
    """What the capability document depends on, cheaply: this interpreter, the lerobot package's
    files (names, sizes, mtimes) and the distributions installed beside it (their dist-info names)."""

    h = hashlib.sha256(sys.executable.encode() + sys.version.encode())
    spec = importlib.util.find_spec("lerobot")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs[:] = sorted(x for x in dirs if x != "__pycache__")
            for f in sorted(files):
                if f.endswith(".py"):
                    st = os.stat(os.path.join(d, f))
                    h.update(f"{os.path.join(d, f)}:{st.st_size}:{st.st_mtime_ns}".encode())
    for entry in sys.path:
        if entry.endswith("site-packages") and os.path.isdir(entry):
            h.update("\n".join(sorted(n for n in os.listdir(entry) if n.endswith((".dist-info", ".egg-info", ".egg-link", ".pth")))).encode())
    return h.hexdigest()


def _caps(module, cache):
    """The capability document, from `cache` when nothing it depends on changed (a launch should not
    import lerobot's training module every time), else collected and kept there."""
    key = _fingerprint() if cache else None
    if cache:
        try:
            with open(cache, encoding="utf-8") as fh:
                kept = json.load(fh)
            if kept.get("fingerprint") == key and isinstance(kept.get("caps"), dict):
                return kept["caps"]
        except (OSError, ValueError, AttributeError):
            pass
    caps = importlib.import_module(module).collect()
    if cache:
        try:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            tmp = f"{cache}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"fingerprint": key, "caps": caps}, fh, default=str)
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only cache costs time, not correctness
    return caps


if __name__ == "__main__":
    main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
