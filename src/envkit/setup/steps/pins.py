"""Step `pins`: widen a local lerobot tree's pyproject pins to admit the resolved tuple. The resolver
planned the new text; this step writes it (the original kept beside it) and undo restores it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from envkit import pin_files
from envkit.errors import EnvkitError
from envkit.setup.context import RunContext
from envkit.setup.kinds import StepKind
from envkit.setup.step import Step
from envkit.state import SetupState

if TYPE_CHECKING:
    from envkit.resolve import Resolved


def build(resolved: "Resolved") -> Step | None:
    """For a local tree (--lerobot PATH) whose pyproject excludes the tuple; None when its pins admit it."""
    lr = resolved.lerobot
    if lr["source"]["kind"] != "path" or not lr.get("pin_changes"):
        return None
    pyproject = Path(lr["source"]["pyproject"])
    return Step(
        "pins", f"widen lerobot's pins in {pyproject}",
        "the local tree's pyproject excludes the resolved tuple: " + ", ".join(
            f"{c['package']} '{c['old']}' -> '{c['new']}'" for c in lr["pin_changes"]) + " (the original is kept beside it; undo restores it)",
        "pins",
        files=(str(pyproject), str(pyproject) + ".envkit-orig"),
        inputs={"pyproject": str(pyproject), "changes": lr["pin_changes"]},
        # the pins plan the resolver made (new text included): the step writes it, it does not plan again
        params={"pyproject": str(pyproject), "plan": resolved.pin_plan, "old_text": resolved.pin_source_text},
    )


def execute(ctx: RunContext, step: Step) -> None:
    """Write the pins plan the resolver made (step.params["plan"]); the file must still be what it judged."""
    pyproject = Path(step.params["pyproject"])
    planned = step.params["plan"]
    ctx.state.add_unique("pins", str(pyproject))  # before writing: undo must know even after a kill
    if planned.conflicts:
        raise EnvkitError(f"{pyproject}: " + "; ".join(planned.conflicts), fix="edit those entries by hand, then rerun")
    text = pin_files.read_pyproject(pyproject)
    if text != step.params["old_text"] and text != planned.new_text:
        raise EnvkitError(f"{pyproject} changed after envkit resolved it (its pins were judged on the earlier text)",
                          fix="rerun the same envkit setup command: it judges the file as it is now")
    changed = pin_files.write_pins(pyproject, planned.new_text, record={"profile": ctx.state.profile})
    ctx.write(f"# pins {'rewritten' if changed else 'already admit the tuple'}: {pyproject}\n")
    ctx.checkpoint(step.id)


def undo(prefix: Path, state: SetupState) -> list[str]:
    """The user's pyproject files come back from the backups beside them."""
    return [f"restored {pyproject} from its backup" for pyproject in state.pins if pin_files.restore_pins(Path(pyproject))]


KINDS = {"pins": StepKind(execute, undo=undo)}
