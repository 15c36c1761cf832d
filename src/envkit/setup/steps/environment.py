"""Step `environment`: the prefix's Python, a venv on the system interpreter (uv) or a conda prefix
(py-rattler, from the profile's channels or exactly from a lock's conda layer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envkit import condaenv
from envkit.setup.context import RunContext, run_commands
from envkit.setup.kinds import StepKind
from envkit.setup.step import UV, PlanInputs, SetupOptions, Step

if TYPE_CHECKING:
    from envkit.profiles import Profile
    from envkit.resolve import Resolved


def build(profile: "Profile", resolved: "Resolved", options: SetupOptions) -> Step:
    prefix = options.prefix
    channels = list(options.channels or resolved.conda["channels"])
    python_spec = f"python {resolved.python}.*"
    if profile.environment == "venv":
        exe = options.python_exe or f"python{resolved.python}"
        return Step(
            "environment", f"virtual environment on the system Python {resolved.python}",
            f"profile '{resolved.profile}' asks for a venv (environment = \"venv\") on python{resolved.python} from PATH",
            "venv",
            commands=((UV, "venv", "--seed", "--allow-existing", "--python", exe, str(prefix)),),
            files=(str(prefix / "pyvenv.cfg"),),
            inputs={"kind": "venv", "python": resolved.python, "interpreter": exe},
            verify=("pyvenv.cfg", "bin/python"),
        )
    return Step(
        "environment", f"conda prefix with Python {resolved.python} (py-rattler, no conda needed)",
        f"profile '{resolved.profile}' uses a conda environment; py-rattler solves and links conda packages itself",
        "conda",
        commands=(tuple(condaenv.command(prefix, channels, [python_spec], resolved.platform, python=options.envkit_python)),),
        files=(str(prefix / "conda-meta"),),
        inputs={"kind": "conda", "channels": channels, "specs": [python_spec], "platform": resolved.platform},
        verify=("bin/python", "conda-meta/python-*.json"),
    )


def build_locked(options: SetupOptions, inputs: PlanInputs, platform: str) -> Step:
    """--from-lock with a conda layer: the lock's records carry URLs and hashes, nothing is solved."""
    lock_dir = options.from_lock
    assert lock_dir is not None
    return Step(
        "environment", f"conda prefix exactly as {lock_dir.name}/conda-lock.yml locks it (py-rattler)",
        "the lock's records carry URLs and hashes: no solve, the same packages on every machine",
        "conda", commands=(tuple(condaenv.lock_command(options.prefix, lock_dir, platform, python=options.envkit_python)),),
        inputs={"lock": inputs.lock_hashes["conda-lock.yml"], "platform": platform},
        verify=("bin/python", "conda-meta/python-*.json"))


def execute_venv(ctx: RunContext, step: Step) -> None:
    ctx.run(step, step.commands[0])
    ctx.checkpoint(step.id)


# The conda action is shared with the conda FFmpeg step: rattler's command is the whole work.
KINDS = {"venv": StepKind(execute_venv), "conda": StepKind(run_commands)}
