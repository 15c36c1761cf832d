"""The doctor judges an envkit prefix against what setup recorded (state.json's typed request), not
against a fresh resolution from a profile name: an edited profile file or a changed host is named,
with the fix (re-run setup). Pure: plans are built for a recorded host file, no install."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from envkit.doctor.checks.torch import torch_profile
from envkit.doctor.model import Context, Status
from envkit.hostfacts import load_host_file
from envkit.profiles import load_profile
from envkit.resolve import resolve
from envkit.setup.plan import SetupOptions, build_plan
from envkit.setup_choices import SetupChoices, host_digest
from envkit.state import SetupState
from envkit.targetenv.setup_record import digest_drift, recorded_choices

ROOT = Path(__file__).resolve().parent.parent
HOST = ROOT / "docs" / "examples" / "host-cpu.json"  # an x86-64 CPU server, as `envkit detect --json` wrote it


def _set_up(tmp_path: Path, profile_text: str) -> tuple[Path, Path]:
    """What setup leaves behind for the doctor: the profile file and a state whose request is the plan's record."""
    user = tmp_path / "lab-cpu.toml"
    user.write_text(profile_text)
    prefix = tmp_path / "env"
    profile, host = load_profile(str(user)), load_host_file(HOST)
    plan = build_plan(profile, resolve(profile, host, None, "linux-64"), SetupOptions(prefix=prefix), host=host)
    assert plan.record is not None
    prefix.mkdir()
    SetupState(prefix=prefix, profile=plan.profile, request=plan.record.to_request()).save()
    return user, prefix


def _now(user: Path, host_facts=None):  # type: ignore[no-untyped-def]
    profile = load_profile(str(user))
    host = host_facts or load_host_file(HOST)
    return profile, resolve(profile, host, None, "linux-64"), host


PROFILE = 'schema_version = 1\nname = "lab-cpu"\nextends = "cpu"\n[env]\nLAB_SITE = "a"\n'


def test_request_keeps_its_keys_and_round_trips(tmp_path: Path) -> None:
    _, prefix = _set_up(tmp_path, PROFILE)
    request = json.loads((prefix / ".envkit" / "state.json").read_text())["request"]
    old_keys = {"profile", "profile_file", "platform", "python", "lerobot", "overrides", "no_pretrained_backbone",
                "weights", "extras", "from_lock"}
    assert old_keys <= set(request) and {"tuple_digest", "profile_digest", "host_digest", "host"} <= set(request)
    rec = recorded_choices(prefix)
    assert SetupChoices.from_request(rec.to_request()) == rec and rec.state == prefix / ".envkit" / "state.json"


def test_same_profile_same_host_is_no_drift(tmp_path: Path) -> None:
    user, prefix = _set_up(tmp_path, PROFILE)
    _, resolved, host = _now(user)
    assert digest_drift(recorded_choices(prefix), resolved, host) is None
    # the doctor child resolves the tree setup recorded by its absolute path; the user may have typed it otherwise
    source = {**resolved.lerobot["source"], "text": "./lerobot"}
    spelled = dataclasses.replace(resolved, lerobot={**resolved.lerobot, "source": source, "pin_changes": []})
    assert digest_drift(recorded_choices(prefix), spelled, host) is None


def test_edited_profile_file_is_named_with_the_fix(tmp_path: Path) -> None:
    user, prefix = _set_up(tmp_path, PROFILE)
    user.write_text(PROFILE.replace('"a"', '"b"'))  # edited after setup: the hooks would now set another value
    profile, resolved, host = _now(user)
    recorded = recorded_choices(prefix)
    drift = digest_drift(recorded, resolved, host)
    assert drift is not None
    what, fix = drift
    assert f"profile 'lab-cpu' was edited since setup (its file {user.resolve()})" in what and "host changed" not in what
    assert fix.startswith(f"re-run envkit setup --profile {user.resolve()} --prefix {prefix}")
    # the doctor's torch.profile check says it: a warning while the installed versions still match the
    # profile's, a failure naming both when they do not
    dists = {"torch": resolved.torch["version"], "torchvision": resolved.torchvision, "torchcodec": resolved.torchcodec}
    ctx = Context(probe={"dists": dists}, host=host, profile=profile, resolved=resolved, setup=recorded)
    outcome = torch_profile(ctx)
    assert outcome.status == Status.WARN and outcome.summary == what and outcome.fix == fix
    ctx = Context(probe={"dists": {**dists, "torch": "2.0.0"}}, host=host, profile=profile, resolved=resolved, setup=recorded)
    outcome = torch_profile(ctx)
    assert outcome.status == Status.FAIL and what in outcome.summary and "torch 2.0.0" in outcome.summary and outcome.fix == fix
    # with no record to compare with, the same environment is simply the profile's tuple
    ctx = Context(probe={"dists": dists}, host=host, profile=profile, resolved=resolved)
    assert torch_profile(ctx).status == Status.OK


def test_changed_host_is_named(tmp_path: Path) -> None:
    user, prefix = _set_up(tmp_path, PROFILE)
    recorded = recorded_choices(prefix)
    host = load_host_file(HOST)
    other = dataclasses.replace(host, glibc="2.17")  # an older system library than setup resolved for
    assert host_digest(other) != recorded.host_digest
    assert host_digest(dataclasses.replace(host, disk_free_bytes=1)) == recorded.host_digest  # free space is not the host
    profile, resolved, _ = _now(user)
    # the tuple resolves the same: a host change alone is no drift
    assert digest_drift(recorded, resolved, other) is None
    # a tuple that differs on a changed host says both what moved and how to fix it
    moved = dataclasses.replace(resolved, env={**resolved.env, "LAB_SITE": "b"})
    what, fix = digest_drift(recorded, moved, other) or ("", "")
    assert 'the host changed since setup: glibc' in what and '-> "2.17"' in what and fix.startswith("re-run envkit setup")


def test_a_state_from_before_the_digest_is_not_judged(tmp_path: Path) -> None:
    user, prefix = _set_up(tmp_path, PROFILE)
    SetupState(prefix=prefix, profile="lab-cpu", request={"profile": "lab-cpu", "profile_file": str(user)}).save()
    user.write_text(PROFILE.replace('"a"', '"b"'))
    _, resolved, host = _now(user)
    assert digest_drift(recorded_choices(prefix), resolved, host) is None  # nothing recorded to compare with
