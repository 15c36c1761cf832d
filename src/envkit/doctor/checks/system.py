"""system.*: the interpreter, disk, shared memory, caches and the backbone weights."""

from __future__ import annotations

import os

from packaging.version import Version

from envkit import pyversions
from envkit.assets import act_backbone
from envkit.doctor.checks._util import known, matrix, q
from envkit.doctor.model import Check, Context, Outcome, fail, ok, skip, warn

GB = 1024**3
# Below this much free space the doctor warns; a lab whose runs keep few checkpoints can lower it.
DISK_WARN_VAR = "ENVKIT_DISK_WARN_GIB"
DISK_WARN_GIB = 10.0


def _disk_warn_gib() -> tuple[float, str]:
    """The warn threshold and, where the variable is unusable, why it was ignored."""
    raw = os.environ.get(DISK_WARN_VAR, "").strip()
    if not raw:
        return DISK_WARN_GIB, ""
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:
        return DISK_WARN_GIB, f"; {DISK_WARN_VAR}={raw!r} is not a size in GiB, so {DISK_WARN_GIB:g} GiB applies"
    return value, ""


def python_version(ctx: Context) -> Outcome:
    py = ctx.section("python").get("version")
    if not py:
        return fail("the target interpreter reported no version", "check --python/--prefix points at a working python")
    lerobot = ctx.dist("lerobot")
    m = matrix()
    row = known(m.lerobot, lerobot) if (m and lerobot) else None
    if row is not None and Version(py) not in row.requires_python:
        return fail(f"Python {py} is outside lerobot {lerobot}'s Requires-Python {row.requires_python}",
                    "recreate the env with a matching Python (envkit setup --profile P picks it)")
    # The profile allows a range or list of Pythons; the resolved tuple names the one setup chose.
    minor = ".".join(py.split(".")[:2])
    resolved = getattr(ctx.resolved, "python", None)
    value = getattr(ctx.profile, "python_value", None)
    if resolved and minor != resolved:
        return warn(f"Python {py}, the resolved tuple expects {resolved}", f"recreate the env with Python {resolved} (envkit setup --python {resolved})")
    if not resolved and value is not None and minor not in pyversions.candidates(value):
        return warn(f"Python {py}, outside the profile's python ({ctx.profile.python})", "recreate the env with a Python the profile allows (envkit setup --python X.Y)")
    return ok(f"Python {py}" + (f" (lerobot {lerobot} needs {row.requires_python})" if row else ""))


def disk(ctx: Context) -> Outcome:
    free = ctx.section("system").get("disk_free_bytes")
    if free is None:
        return skip("free disk space unknown")
    warn_gib, bad_var = _disk_warn_gib()
    text = f"{free / GB:.1f} GiB free beside the env"
    # A full ACT checkpoint is ~0.6 GB per save; a training run writes several.
    if free < 2 * GB:
        return fail(text, "free disk space (checkpoints of full ACT are ~600 MB each) or move --output_dir")
    if free < warn_gib * GB:
        return warn(text + f" (warns below {warn_gib:g} GiB){bad_var}",
                    f"free some space: each full ACT checkpoint is ~600 MB (or set {DISK_WARN_VAR} lower "
                    "where runs keep few checkpoints)")
    if bad_var:
        return warn(text + bad_var, f"export {DISK_WARN_VAR}=N with N a number of GiB, or unset it")
    return ok(text)


def shm(ctx: Context) -> Outcome:
    size = ctx.section("system").get("shm_bytes") or ctx.host.shm_bytes
    if not size:
        return skip("/dev/shm not found")
    text = f"/dev/shm is {size / GB:.2f} GiB"
    if size < 1 * GB:
        # DataLoader workers pass batches through /dev/shm; docker's default 64 MB kills them.
        return warn(text + "; DataLoader workers (--num_workers>0) can die with 'Bus error'",
                    "docker run --shm-size=8g ... (or train with --num_workers=0)")
    return ok(text)


def hf_cache(ctx: Context) -> Outcome:
    sysf = ctx.section("system")
    home = sysf.get("hf_home")
    if sysf.get("hf_home_writable") is False:
        return fail(f"the Hugging Face cache {home} is not writable: {sysf.get('hf_home_error', '')}",
                    "export HF_HOME=/a/writable/dir (datasets and checkpoints are cached there)")
    if home is None:
        return skip("Hugging Face cache location unknown")
    caches = [c for c in sysf.get("hf_caches") or [] if isinstance(c, dict)]
    bad = [c for c in caches if c.get("writable") is False]
    if bad:
        c = bad[0]
        how = f"{c['var']}={c['path']}" if c.get("set") else f"{c['path']} ({c['var']} unset: under HF_HOME)"
        return fail(f"{how} is not writable ({c.get('error', '')}): lerobot writes datasets there and fails at load time"
                    + (f"; also {', '.join(b['var'] for b in bad[1:])}" if len(bad) > 1 else ""),
                    f"export {c['var']}=/a/writable/dir (or fix the permissions of {c['path']})")
    moved = [f"{c['var']}={c['path']}" for c in caches if c.get("set")]
    return ok(f"{home} is writable" + (f"; so are {', '.join(moved)}" if moved else
                                        (" (datasets and lerobot caches below it)" if caches else "")))


def backbone_weights(ctx: Context) -> Outcome:
    asset = act_backbone(ctx.profile)
    name = asset["file"]
    sysf = ctx.section("system")
    weights = sysf.get("resnet18") or {}
    if ctx.setup.no_pretrained_backbone:
        return ok("not needed: training with --policy.pretrained_backbone_weights=null")
    if weights.get("present"):
        return ok(f"ACT backbone weights cached at {weights['path']}")
    path = weights.get("path") or f"$TORCH_HOME/hub/checkpoints/{name}"
    offline = sysf.get("hf_hub_offline") or sysf.get("network") is False
    if not offline:
        return ok(f"ACT backbone weights not cached; lerobot downloads {name} on first use")
    why = "HF_HUB_OFFLINE is set" if sysf.get("hf_hub_offline") else f"{asset['host']} does not resolve"
    return fail(
        f"ACT's default backbone needs ImageNet weights {name}, they are not at {path} and {why}: "
        "lerobot-train fails with URLError after ~8 s",
        f"on a connected machine: curl -L -o {name} {asset['url']}; then envkit setup --weights {name} "
        f"(or copy it to {q(path)}), or train with --policy.pretrained_backbone_weights=null and tell the "
        "doctor --no-pretrained-backbone",
    )


CHECKS = [
    Check("system.python", "Python version for this lerobot", python_version),
    Check("system.disk", "free disk space", disk),
    Check("system.shm", "/dev/shm size", shm),
    Check("system.hf_cache", "Hugging Face cache writable", hf_cache),
    Check("system.backbone_weights", "ResNet18 backbone weights", backbone_weights),
]
