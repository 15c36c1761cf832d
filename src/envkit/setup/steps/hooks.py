"""Step `hooks`: the activation hooks (etc/conda/activate.d and deactivate.d) that set the
environment's variables and restore them exactly; conda, micromamba, pixi and `envkit run` source them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envkit.hooks import ACTIVATE, DEACTIVATE, hook_spec, render_activate, render_deactivate
from envkit.fsutil import atomic_write
from envkit.setup.context import RunContext
from envkit.setup.kinds import StepKind
from envkit.setup.step import SetupOptions, Step, torch_home

if TYPE_CHECKING:
    from envkit.resolve import Resolved


def build(resolved: "Resolved", options: SetupOptions, set_env_candidates: tuple[str, ...] | None) -> Step:
    prefix = options.prefix
    if set_env_candidates is None:
        set_env_candidates = resolved.accel.hooks.source_first
    spec = hook_spec(resolved, prefix, ffmpeg_in_prefix=resolved.ffmpeg["source"] == "conda-forge",
                     visible_devices=options.visible_devices, offline=options.offline, torch_home=torch_home(options),
                     set_env_candidates=set_env_candidates)
    shown = [f"{k}={v}" for k, v in spec.env.items()]
    if spec.ld_library_path:
        shown.append(f"LD_LIBRARY_PATH={':'.join(spec.ld_library_path)}:$LD_LIBRARY_PATH")
    if spec.source_first:
        shown.append("sources the first of " + ", ".join(spec.source_first))
    return Step(
        "hooks", "activation hooks (set and exactly restore the environment's variables)",
        "conda, micromamba and pixi source etc/conda/activate.d; `envkit run` and `envkit shell-hook` do too (venvs included); "
        "sets " + ("; ".join(shown) or "nothing beyond PATH"),
        "hooks",
        files=(str(prefix / ACTIVATE), str(prefix / DEACTIVATE)),
        inputs={"env": spec.env, "ld_library_path": list(spec.ld_library_path), "pythonpath": list(spec.pythonpath),
                "source_first": list(spec.source_first)},
        params={"spec": spec},
        verify=(str(ACTIVATE), str(DEACTIVATE)),
    )


def execute(ctx: RunContext, step: Step) -> None:
    spec = step.params["spec"]
    atomic_write(ctx.prefix / ACTIVATE, render_activate(spec))
    ctx.checkpoint(step.id)
    atomic_write(ctx.prefix / DEACTIVATE, render_deactivate(spec))


KINDS = {"hooks": StepKind(execute)}
