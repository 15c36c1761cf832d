"""The smoke test: lerobot's own training entry (`lerobot-train`, or `python -m lerobot.scripts.train`
in trees without the console script) with --policy.type=act for 3 steps, then a resume to step 5.

Runs in the target env (hooks applied) on a tiny dataset made with lerobot's own API, offline:
what it proves is that this env trains, checkpoints and resumes on the expected device.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from envkit import cachedir, lerobot_caps, train_args
from envkit.doctor.model import Context
from envkit.targetenv.layout import TRAIN_SCRIPT, Layout

STEP_LINE = re.compile(r"step:(\d+)\S*\s.*?loss:(\S+)")
FALLBACK = re.compile(r"Device '(\w+)' is not available\. Switching to '(\w+)'")
TRAIN_TIMEOUT_S = 900


@dataclass
class RunResult:
    argv: list[str]
    returncode: int
    log: str
    seconds: float
    out_dir: Path

    def losses(self) -> dict[int, float]:
        found: dict[int, float] = {}
        for step, loss in STEP_LINE.findall(self.log):
            try:
                found[int(step)] = float(loss)
            except ValueError:
                found[int(step)] = math.nan
        return found

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log.splitlines()[-lines:])


def cache_root(environ: dict[str, str] | None = None) -> Path:
    return cachedir.cache_root(environ) / "doctor"


def device_for(ctx: Context) -> str:
    """The --policy.device lerobot gets: the device string of the backend training uses."""
    return ctx.backend.device


def run_env(ctx: Context) -> dict[str, str]:
    env = ctx.target.environ(ctx.environ or os.environ) if ctx.target else dict(ctx.environ or os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1"})
    return env


def _run(ctx: Context, argv: list[str], out_dir: Path, timeout: int = TRAIN_TIMEOUT_S) -> RunResult:
    wrapped = ctx.target.wrap(argv) if ctx.target else argv
    start = time.monotonic()
    try:
        proc = subprocess.run(wrapped, capture_output=True, text=True, env=run_env(ctx), timeout=timeout, check=False)
        log, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        log = f"{exc.stdout or ''}{exc.stderr or ''}\n[envkit] timed out after {timeout} s"
        log, rc = log if isinstance(log, str) else str(log), 124
    return RunResult(argv, rc, log, time.monotonic() - start, out_dir)


def dataset_key(ctx: Context, lay: Layout) -> str:
    """Cache name of the tiny dataset: one per writer. The version alone is not enough (a fork's
    tree and PyPI's release can share "0.1.0"), and the parquet files carry the `datasets`
    library's feature types, which older `datasets` cannot read back."""
    parts = [lay.version or "unknown", lay.codebase_version or "nofmt", (lay.package or "x").replace(".", "-"),
             f"datasets{ctx.dist('datasets') or 'none'}"]
    return "tiny-lerobot-" + "-".join(re.sub(r"[^A-Za-z0-9.+]", "_", p) for p in parts)


def ensure_dataset(ctx: Context, lay: Layout) -> tuple[Path, str, RunResult | None]:
    """The user's --dataset, else a cached tiny dataset (built once per lerobot writer)."""
    if ctx.dataset is not None:
        return ctx.dataset, f"local/{ctx.dataset.name}", None
    root = cache_root(ctx.environ or None) / dataset_key(ctx, lay)
    repo_id = "envkit/tiny"
    if (root / "meta" / "info.json").is_file():
        return root, repo_id, None
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tiny-", dir=root.parent))
    staging = work / "ds"  # lerobot refuses an existing root, so give it a fresh one
    script = Path(__file__).with_name("make_dataset.py")
    runner = work / "make_dataset.py"  # a copy, so envkit's package dir is not on the target's sys.path
    shutil.copy(script, runner)
    module = lay.dataset_module or "lerobot.datasets.lerobot_dataset"
    result = _run(ctx, [ctx.python_cmd(), str(runner), str(staging), repo_id, module], staging, timeout=600)
    if result.returncode == 0 and (staging / "meta" / "info.json").is_file():
        try:
            staging.rename(root)  # atomic: a half-written dataset is never reused
        except OSError:
            pass  # another doctor won the race; its copy is as good
    shutil.rmtree(work, ignore_errors=True)
    return root, repo_id, result


def caps_of(ctx: Context) -> "lerobot_caps.LerobotCaps | None":
    """What the installed lerobot accepts (the capability probe in the doctor's probe); None: not probed."""
    if "lerobot_caps" not in ctx.scratch:
        ctx.scratch["lerobot_caps"] = lerobot_caps.from_probe(ctx.probe)
    return ctx.scratch["lerobot_caps"]


def entry_argv(ctx: Context, lay: Layout) -> list[str]:
    """The installed lerobot's own training entry: its lerobot-train console script when it declares
    one (and the env has it), else `python -m` its training module (forks, old trees)."""
    caps = caps_of(ctx)
    declared = caps.train_script == TRAIN_SCRIPT if caps is not None else lay.entry == TRAIN_SCRIPT
    script = ctx.target.script(TRAIN_SCRIPT) if ctx.target and declared else None
    if script:
        return [str(script)]
    module = (caps.train_module if caps is not None else None) or lay.train_module or "lerobot.scripts.lerobot_train"
    return [ctx.python_cmd(), "-m", module]


def train_argv(ctx: Context, lay: Layout, root: Path, repo_id: str, out_dir: Path, steps: int, weights_cached: bool) -> list[str]:
    caps = caps_of(ctx)
    reader = (ctx.section("video").get("torchvision") or {}).get("video_reader")
    backend, ctx.scratch["smoke_video_why"] = train_args.video_backend(caps, ctx.scratch.get("video_backend"), reader)
    built = train_args.smoke_train(caps, device=device_for(ctx), repo_id=repo_id, root=str(root),
                                   out_dir=str(out_dir), steps=steps, weights_cached=weights_cached,
                                   video_backend=backend)
    ctx.scratch["smoke_dropped"] = built.dropped  # settings this tree does not have, named in the verdict
    return entry_argv(ctx, lay) + list(built.args)


def resume_argv(ctx: Context, lay: Layout, first: RunResult, steps: int) -> list[str]:
    config = first.out_dir / "checkpoints" / "last" / "pretrained_model" / "train_config.json"
    return entry_argv(ctx, lay) + list(train_args.smoke_resume(caps_of(ctx), config_path=str(config), steps=steps).args)


def trained_device(out_dir: Path) -> str | None:
    config = out_dir / "checkpoints" / "last" / "pretrained_model" / "train_config.json"
    try:
        data = json.loads(config.read_text())
        found = (data.get("policy") or {}).get("device") or data.get("device")  # trees before 2025-03: top level
        return str(found) if found else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def fallback(log: str) -> tuple[str, str] | None:
    match = FALLBACK.search(log)
    return (match.group(1), match.group(2)) if match else None


def new_out_dir() -> Path:
    parent = cache_root() / "runs"
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="smoke-", dir=parent)) / "out"
