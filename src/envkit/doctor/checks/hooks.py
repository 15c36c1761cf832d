"""hooks.*: what the activation environment does to training (libraries, threads, GL, accelerate)."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlparse

from envkit import loaderdiag
from envkit.doctor.checks._util import vtuple
from envkit.doctor.checks.video import _tc_error, shadowing_dirs
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn

# What accelerate reads silently in released lerobot (<= 0.6.1) and what each does to training.
ACCELERATE_EFFECTS = {
    "ACCELERATE_USE_CPU": "trains on CPU even with a GPU/NPU",
    "ACCELERATE_MIXED_PRECISION": "changes the training precision",
    "ACCELERATE_DYNAMO_BACKEND": "compiles the model with torch.compile",
    "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "accumulates gradients (the effective batch size changes)",
}


def _env(ctx: Context) -> dict[str, str]:
    return dict(ctx.probe.get("env") or {})


def ld_library_path(ctx: Context) -> Outcome:
    env = _env(ctx)
    libs = ctx.section("libs").get("ld_library_path") or []
    missing = [d["dir"] for d in libs if not d.get("exists")]
    prefix = ctx.section("python").get("prefix")
    loaded = [lib for lib in ctx.section("video").get("loaded") or [] if lib["name"].startswith("libavutil") and lib.get("origin") == "system"]
    env_lib = os.path.join(prefix, "lib") if prefix else None
    has_own = env_lib and any(os.path.basename(p).startswith("libavutil.so.") for p in _listdir(env_lib))
    if has_own and loaded and not loaded[0]["path"].startswith(env_lib):
        return warn(f"the env ships its own FFmpeg in {env_lib} but torchcodec loaded {loaded[0]['path']}",
                    f"export LD_LIBRARY_PATH={env_lib}:$LD_LIBRARY_PATH (envkit setup's activation hook sets it)")
    tc = ctx.section("video").get("torchcodec") or {}
    tc_broken = tc.get("installed") and not (tc.get("import_ok") and (tc.get("decode") or {}).get("ok")) and (
        not tc.get("import_ok") or "decode" in tc)
    if tc_broken:
        text = _tc_error(tc)
        shadow = shadowing_dirs(ctx, text)
        if shadow:
            entry = shadow[0]
            return fail(f"LD_LIBRARY_PATH entry {entry['dir']} provides {', '.join(entry['libavutil'])} and torchcodec cannot "
                        "load FFmpeg through it: the loader takes it before the system's or the environment's FFmpeg",
                        f"remove {entry['dir']} from LD_LIBRARY_PATH (reinstalling FFmpeg does not help while it shadows it)", text)
    if missing:
        return warn("LD_LIBRARY_PATH names directories that do not exist: " + ", ".join(missing),
                    "remove them from LD_LIBRARY_PATH (stale CUDA/CANN installs are a common cause)")
    with_av = [d["dir"] for d in libs if d.get("libavutil")]
    if "LD_LIBRARY_PATH" not in env:
        return ok("LD_LIBRARY_PATH unset; libraries come from the loader's default path")
    return ok("LD_LIBRARY_PATH is consistent" + (f"; FFmpeg from {with_av[0]}" if with_av else ""))


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _inside(path: str, parent: str) -> bool:
    path, parent = os.path.realpath(path), os.path.realpath(parent)
    return path == parent or path.startswith(parent.rstrip(os.sep) + os.sep)


def editable_source(ctx: Context, prefix: str) -> str | None:
    """The tree lerobot is installed from in editable mode, when that installation belongs to this
    env (its metadata lives in the prefix and PEP 610's direct_url.json marks it editable)."""
    dist = ctx.section("lerobot_dist")
    direct = dist.get("direct_url") if isinstance(dist.get("direct_url"), dict) else {}
    url = str(direct.get("url") or "")
    if not (direct.get("dir_info") or {}).get("editable") or not url.startswith("file://"):
        return None
    metadata = dist.get("metadata_path")
    if not metadata or not prefix or not _inside(metadata, prefix):
        return None

    return unquote(urlparse(url).path)


def launch_env(ctx: Context) -> Outcome:
    env = _env(ctx)
    prefix = ctx.section("python").get("prefix") or ""
    foreign = []
    notes = []
    for name in ("torch", "torchcodec", "torchvision", "lerobot"):
        where = {"torch": ctx.section("torch").get("file") or ctx.section("torch_spec").get("origin"), "torchcodec": (ctx.section("video").get("torchcodec") or {}).get("dir"),
                 "lerobot": ctx.section("lerobot").get("dir")}.get(name)
        if not where or not prefix or _inside(where, prefix):
            continue
        tree = editable_source(ctx, prefix) if name == "lerobot" else None
        if tree and _inside(where, tree):
            # A fork's tree installed editable by this env: outside the prefix by design, not a shadow.
            notes.append(f"lerobot from the env's editable install of {tree}")
            continue
        foreign.append(f"{name} from {where}")
    if foreign:
        return warn("packages come from outside the env (PYTHONPATH or user site): " + "; ".join(foreign),
                    "unset PYTHONPATH (or remove those directories from it) so the env's own packages are used",
                    f"PYTHONPATH={env.get('PYTHONPATH', '')}")
    threads = env.get("OMP_NUM_THREADS")
    wanted = (getattr(ctx.resolved, "env", None) or {}).get("OMP_NUM_THREADS") if ctx.resolved is not None else None
    if wanted and threads != wanted:
        return warn(f"OMP_NUM_THREADS={threads or 'unset'}, the profile sets {wanted}",
                    f"export OMP_NUM_THREADS={wanted} (or activate the env with its envkit hook)")
    notes.append(f"OMP_NUM_THREADS={threads}" if threads else "OMP_NUM_THREADS unset (torchrun/accelerate set 1 per process)")
    if env.get("PYTHONPATH"):
        notes.append("PYTHONPATH is set but shadows nothing envkit checks")
    return ok("; ".join(notes))


def mujoco_gl(ctx: Context) -> Outcome:
    gl = ctx.section("libs").get("mujoco_gl")
    if not gl:
        if ctx.dist("mujoco"):
            return warn("MuJoCo is installed but MUJOCO_GL is unset: headless evaluation cannot render",
                        "export MUJOCO_GL=egl (GPU) or MUJOCO_GL=osmesa (CPU)")
        return skip("MUJOCO_GL unset and MuJoCo not installed (only needed for simulation eval)")
    if not gl.get("known"):
        return fail(f"MUJOCO_GL={gl['value']} is not one of egl, osmesa, glfw", "export MUJOCO_GL=egl")
    if gl.get("loaded"):
        return ok(f"MUJOCO_GL={gl['value']}: {gl['loaded']} loads")
    errors = "\n".join(gl.get("errors") or [])
    if not ctx.dist("mujoco"):
        # Only MuJoCo reads MUJOCO_GL: a server without libEGL trains fine until simulation eval is installed.
        return skip(f"MUJOCO_GL={gl['value']} is set but MuJoCo is not installed, so its library is not needed", errors)
    found = loaderdiag.cause(errors)
    pkg = (found.debian_package if found else None) or {"egl": "libegl1", "osmesa": "libosmesa6", "glfw": "libglfw3"}[gl["value"].lower()]
    said = f": the loader says {found.summary()}" if found else ""
    return fail(f"MUJOCO_GL={gl['value']} but its library does not load{said}", f"apt-get install -y --no-install-recommends {pkg}", errors)


def accelerate(ctx: Context) -> Outcome:
    env = _env(ctx)
    found = {k: v for k, v in env.items() if k.startswith("ACCELERATE_")}
    if not found:
        return ok("no ACCELERATE_* variables")
    lerobot = ctx.dist("lerobot")
    names = sorted(found)
    effects = "; ".join(f"{k}={found[k]} {ACCELERATE_EFFECTS.get(k, 'changes how accelerate runs training')}" for k in names)
    fix = "unset " + " ".join(names)
    if lerobot and vtuple(lerobot) > (0, 6, 1):
        if env.get("LEROBOT_ALLOW_ACCELERATE_ENV") == "1":
            return warn(f"accelerate variables are set and allowed (LEROBOT_ALLOW_ACCELERATE_ENV=1): {effects}", fix)
        return fail(f"lerobot {lerobot} refuses to start with accelerate variables set: {', '.join(names)}", fix)
    return warn(f"lerobot {lerobot or ''} lets accelerate apply these silently: {effects}".replace("  ", " "), fix)


CHECKS = [
    Check("hooks.ld_library_path", "LD_LIBRARY_PATH reaches the right libraries", ld_library_path),
    Check("hooks.launch_env", "PYTHONPATH / OMP_NUM_THREADS for launching", launch_env),
    Check("hooks.mujoco_gl", "MUJOCO_GL and its library", mujoco_gl),
    Check("hooks.accelerate", "ACCELERATE_* variables", accelerate),
]
