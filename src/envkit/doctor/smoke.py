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

from envkit.doctor.layout import TRAIN_SCRIPT, Layout
from envkit.doctor.model import Context

SMALL_ACT = (
    "--policy.dim_model=64", "--policy.n_heads=2", "--policy.dim_feedforward=128", "--policy.n_encoder_layers=1",
    "--policy.n_decoder_layers=1", "--policy.n_vae_encoder_layers=1", "--policy.latent_dim=8",
    "--policy.chunk_size=10", "--policy.n_action_steps=10",
)
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
    from envkit import cachedir

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


def entry_argv(ctx: Context, lay: Layout) -> list[str]:
    """The installed lerobot's own training entry: its lerobot-train console script when it declares
    one (and the env has it), else `python -m` its training module (forks, old trees)."""
    script = ctx.target.script(TRAIN_SCRIPT) if ctx.target and lay.entry == TRAIN_SCRIPT else None
    if script:
        return [str(script)]
    return [ctx.python_cmd(), "-m", lay.train_module or "lerobot.scripts.lerobot_train"]


def train_argv(ctx: Context, lay: Layout, root: Path, repo_id: str, out_dir: Path, steps: int, weights_cached: bool) -> list[str]:
    head = entry_argv(ctx, lay)
    argv = head + [
        "--policy.type=act", f"--policy.device={device_for(ctx)}", "--policy.push_to_hub=false",
        "--wandb.enable=false", f"--dataset.repo_id={repo_id}", f"--dataset.root={root}",
        f"--steps={steps}", "--batch_size=2", "--num_workers=0", f"--save_freq={steps}",
        *_no_eval(ctx), "--log_freq=1", f"--output_dir={out_dir}", *SMALL_ACT,
    ]
    if not weights_cached:
        argv.append("--policy.pretrained_backbone_weights=null")  # no network: do not fetch ResNet18
    if ctx.scratch.get("video_backend"):
        argv.append(f"--dataset.video_backend={ctx.scratch['video_backend']}")
    return argv


def _no_eval(ctx: Context) -> list[str]:
    """Turn simulation eval off by the field the installed TrainPipelineConfig has: `eval_freq` until 0.5,
    `env_eval_freq` from 0.6 (draccus refuses an unknown flag). Interim, until issue #22's capability
    probe builds every argument from the tree."""
    location = ctx.section("lerobot_dist").get("location")
    try:
        text = (Path(location) / "lerobot" / "configs" / "train.py").read_text(encoding="utf-8", errors="replace") if location else ""
    except OSError:
        text = ""
    for name in ("eval_freq", "env_eval_freq"):
        if re.search(rf"^\s+{name}\s*:", text, re.M):
            return [f"--{name}=0"]
    return [] if text else ["--eval_freq=0"]


def resume_argv(ctx: Context, lay: Layout, first: RunResult, steps: int) -> list[str]:
    config = first.out_dir / "checkpoints" / "last" / "pretrained_model" / "train_config.json"
    return entry_argv(ctx, lay) + ["--resume=true", f"--config_path={config}", f"--steps={steps}"]


def trained_device(out_dir: Path) -> str | None:
    config = out_dir / "checkpoints" / "last" / "pretrained_model" / "train_config.json"
    try:
        return str(json.loads(config.read_text())["policy"]["device"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def fallback(log: str) -> tuple[str, str] | None:
    match = FALLBACK.search(log)
    return (match.group(1), match.group(2)) if match else None


def new_out_dir() -> Path:
    parent = cache_root() / "runs"
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="smoke-", dir=parent)) / "out"
