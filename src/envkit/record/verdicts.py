"""The doctor's half of a scenario: probe.json, host.json, context.json, expect.json, and its replay.

A probe scenario is replayed by feeding the recorded probe document and host facts to the same
checks the doctor ran (the smoke aside: it trains, so it is not replayed). context.json carries
the doctor's other inputs (profile, --no-pretrained-backbone, recorded overrides, dataset); the
transcribed scenarios under tests/data/probe have none, and replay the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit.doctor import registry
from envkit.doctor.facts import typed_host
from envkit.doctor.model import CheckResult, Context
from envkit.errors import EnvkitError
from envkit.profiles import load_profile
from envkit.resolve import resolve
from envkit.setup_choices import SetupChoices

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts

CONTEXT = "context.json"


def context_inputs(ctx: Context) -> dict[str, Any]:
    """What besides the probe and host facts the checks read."""
    return {
        "profile": getattr(ctx.profile, "name", None),
        "no_pretrained_backbone": ctx.setup.no_pretrained_backbone,
        "overrides": list(ctx.setup.overrides),
        "video_backend": ctx.scratch.get("video_backend"),
        "dataset": str(ctx.dataset) if ctx.dataset else None,
    }


def replay_context(directory: Path) -> Context:
    """The Context a scenario directory stands for (probe.json, host.json, optional context.json)."""
    d = Path(directory)
    probe = json.loads((d / "probe.json").read_text(encoding="utf-8"))
    host = typed_host(json.loads((d / "host.json").read_text(encoding="utf-8")), str(d / "host.json"))
    inputs = json.loads((d / CONTEXT).read_text(encoding="utf-8")) if (d / CONTEXT).is_file() else {}
    profile = resolved = None
    if inputs.get("profile"):
        try:
            profile = load_profile(inputs["profile"])
        except EnvkitError:
            profile = None  # a user's own profile file stayed behind: its verdicts do not replay
        # The environment's own Python, as the live doctor resolves with (a profile may allow several).
        python = (probe.get("marker_env") or {}).get("python_version")
        resolved = _resolve(profile, host, python) if profile is not None else None
    choices = SetupChoices(overrides=tuple(inputs.get("overrides") or ()),
                           no_pretrained_backbone=bool(inputs.get("no_pretrained_backbone")))
    ctx = Context(probe=probe, host=host, profile=profile, resolved=resolved,
                  dataset=Path(inputs["dataset"]) if inputs.get("dataset") else None, setup=choices)
    if inputs.get("video_backend"):
        ctx.scratch["video_backend"] = inputs["video_backend"]
    return ctx


def _resolve(profile: Any, host: "HostFacts", python: str | None = None) -> Any:
    # As the doctor does: a profile that does not resolve for this host leaves torch.profile to say so.

    try:
        return resolve(profile, host, python=python)
    except (EnvkitError, ValueError, TypeError, KeyError):
        return None


def replay_results(ctx: Context) -> dict[str, CheckResult]:
    results = registry.run_checks(registry.select(registry.all_checks(), smoke=False), ctx)
    return {r.id: r for r in results}


def replayable_statuses(results: list[CheckResult]) -> dict[str, str]:
    """The live verdicts a replay can reproduce: every check but the smoke (which trains)."""
    slow = {c.id for c in registry.all_checks() if c.slow}
    return {r.id: r.status.value for r in results if r.id not in slow}


def compare(expected: dict[str, str], replayed: dict[str, CheckResult]) -> list[str]:
    """'id: live ok, replay warn' for each verdict the replay does not reproduce."""
    out = []
    for cid, status in expected.items():
        got = replayed[cid].status.value if cid in replayed else "absent"
        if got != status:
            out.append(f"{cid}: live {status}, replay {got}")
    return out
