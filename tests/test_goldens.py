"""Golden resolve plans: each profile x lerobot release x host Python -> the chosen Python, extras and
tuple, or the conflict with its way out (tests/data/goldens/<profile>/lerobot-<v>/python-<X.Y>.json).

Regenerate after a deliberate change: ENVKIT_UPDATE_GOLDENS=1 .venv/bin/pytest -q tests/test_goldens.py
(then read the diff: it is the review). Extras come from the recorded METADATA (tests/data/lerobot-metadata)."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from envkit.accel.ascend.facts import ascend
from envkit.errors import Conflict
from envkit.host import RecordedBoundary, detect
from envkit.profiles import load_profile
from envkit.resolve import resolve
from tests.lerobot_metadata import recorded_extras

GOLDENS = Path(__file__).parent / "data" / "goldens"
HOSTS = Path(__file__).parent / "data" / "host"
LEROBOTS = ("0.4.2", "0.4.4", "0.5.1", "0.6.1")
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# (golden name, profile, host scenario or None, CANN override): atlas-a2 at its floor CANN (the transcribed
# 8.3.RC1 host) and, as a variation of that host with only its CANN version changed, at CANN 9.1.0.
TARGETS = (("5090", "5090", None, None), ("cpu", "cpu", None, None),
           ("atlas-a2", "atlas-a2", "atlas-a2-cann83", None), ("atlas-a2-cann9.1", "atlas-a2", "atlas-a2-cann83", "9.1.0"))
# A golden folder with a target.toml (profile = "...", host = "<tests/data/host scenario>") joins the grid:
# an accelerator added as a folder brings its goldens as data, with no edit here.
TARGETS += tuple((d.name, t["profile"], t.get("host"), t.get("cann"))
                 for d in sorted(GOLDENS.iterdir()) if (d / "target.toml").is_file() and d.name not in {x[0] for x in TARGETS}
                 for t in [tomllib.loads((d / "target.toml").read_text(encoding="utf-8"))])


def _host(scenario: str | None, cann: str | None) -> Any:
    if scenario is None:
        return None
    facts = detect(RecordedBoundary(HOSTS / scenario))
    if cann:
        npu = dataclasses.replace(ascend(facts), cann=dataclasses.replace(ascend(facts).cann, version=cann))
        facts = dataclasses.replace(facts, accelerators={**facts.accelerators, "ascend": npu})
    return facts


def plan(profile: str, scenario: str | None, cann: str | None, lerobot: str, python: str) -> dict[str, Any]:
    host_python = {python: f"/usr/bin/python{python}"}  # the host's only Python (a venv profile must use it)
    try:
        r = resolve(load_profile(profile), _host(scenario, cann), f"lerobot=={lerobot}", pythons=host_python, extras_of=recorded_extras)
    except Conflict as exc:
        return {"conflict": exc.message, "way_out": exc.fix}
    return {"python": r.python, "why_python": r.reasons[0], "lerobot": r.lerobot["version"], "extras": r.lerobot["extras"],
            "patch": r.lerobot["patch"], "torch": r.torch["version"] + (f"+{r.torch['local']}" if r.torch["local"] else ""),
            "build": r.torch["build"], "torchvision": r.torchvision, "torchcodec": r.torchcodec,
            "torch_npu": (r.torch_npu or {}).get("version"), "ffmpeg": r.ffmpeg["major"],
            "pin_changes": [f"{c['package']}: {c['old']} -> {c['new']}" for c in r.lerobot["pin_changes"]],
            "requirements": r.requirements, "warnings": r.warnings}


CASES = [(t, v, p) for t in TARGETS for v in LEROBOTS for p in PYTHONS]


@pytest.mark.parametrize("target,lerobot,python", CASES, ids=[f"{t[0]}-{v}-py{p}" for t, v, p in CASES])
def test_golden_plan(target: tuple, lerobot: str, python: str) -> None:
    name, profile, scenario, cann = target
    got = plan(profile, scenario, cann, lerobot, python)
    path = GOLDENS / name / f"lerobot-{lerobot}" / f"python-{python}.json"
    text = json.dumps(got, indent=1, sort_keys=True) + "\n"
    if os.environ.get("ENVKIT_UPDATE_GOLDENS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"no golden {path}: ENVKIT_UPDATE_GOLDENS=1 writes it"
    assert json.loads(path.read_text()) == got, f"{path} differs: regenerate with ENVKIT_UPDATE_GOLDENS=1 if deliberate"


def test_the_grid_answers_the_issue() -> None:
    """lerobot 0.6.1 sets up on every profile where the hardware allows it, with [training]."""
    for name, python in (("5090", "3.10"), ("cpu", "3.13"), ("atlas-a2-cann9.1", "3.11")):
        got = json.loads((GOLDENS / name / "lerobot-0.6.1" / f"python-{python}.json").read_text())
        assert got["lerobot"] == "0.6.1" and got["extras"] == ["training"] and got["python"] >= "3.12", (name, got)
    cpu311 = json.loads((GOLDENS / "cpu" / "lerobot-0.6.1" / "python-3.11.json").read_text())
    assert "--python 3.12" in cpu311["way_out"] and "--lerobot lerobot==0.4.4" in cpu311["way_out"]
    floor = json.loads((GOLDENS / "atlas-a2" / "lerobot-0.6.1" / "python-3.13.json").read_text())
    assert "CANN >=" in floor["way_out"]
