"""Gather what a plan needs (recorded profile, host devices, one probe of the env, a free port) and build it."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from envkit.accel.registry import get_backend
from envkit.errors import EnvkitError
from envkit.fsutil import not_a
from envkit.hooks import ACTIVATE
from envkit.host import detect
from envkit.launch.devices import effective_spec, select
from envkit.launch.netfacts import route_to
from envkit.launch.plan import LaunchPlan, Request, build, validate
from envkit.launch.probe import env_facts, run_probe
from envkit.profiles import load_profile
from envkit.targetenv.fragments import fragment_settings
from envkit.targetenv.setup_record import recorded_choices


@dataclass
class Prepared:
    plan: LaunchPlan
    probe: dict[str, Any]
    backend: Any
    seconds: float
    host: Any = None  # HostFacts when the backend counts devices (detected once, for the plan and preflight)
    profile: Any = None  # the Profile the plan is for


def free_port(host: str = "127.0.0.1") -> int:
    """A port no one listens on now: the kernel's pick for a bind to port 0 (random per call, so two
    launches starting together get different ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def profile_of(prefix: Path, profile: str | None) -> tuple[Any, bool]:
    """(the Profile, whether named) from --profile, else what setup recorded, else the cpu profile."""
    ref = profile or recorded_choices(prefix).profile_ref()
    return load_profile(ref or "cpu"), ref is not None


def prepare(prefix: Path, request: Request, profile: str | None = None, environ: Mapping[str, str] | None = None,
            count_devices: bool = True, port: int | None = None) -> Prepared:

    start = time.perf_counter()
    validate(request)
    environ = dict(os.environ if environ is None else environ)
    prefix = Path(prefix).expanduser().absolute()
    if not prefix.is_dir():
        raise EnvkitError(f"--prefix {prefix}: {not_a('directory', prefix)}", fix="pass the environment envkit setup created")
    prof, named = profile_of(prefix, profile)
    name, accelerator, hook_env = prof.name, str(prof.accelerator), dict(prof.env)

    if not (prefix / ACTIVATE).is_file():
        hook_env = {}  # not an envkit setup prefix: no hook sets the profile's [env]
    backend = get_backend(accelerator)
    host = None
    if backend.visible_devices_var is not None:
        host = detect()
    var = backend.visible_devices_var
    spec = effective_spec(request.devices, var, environ, backend.visible_devices_also)
    selection = select(spec, backend.host_device_count(host), var is not None)
    extra = {backend.visible_devices_var: selection.visible()} if backend.visible_devices_var and selection.visible() else {}

    dists, prefixes = fragment_settings(backend)
    probe = run_probe(prefix, backend.device_count_code() if count_devices else None, extra, environ, dists, prefixes,
                      torch_version=backend.torch_version_attrs)
    source = recorded_choices(prefix).lerobot
    source_tree = source if source and Path(source).is_dir() else None
    facts = env_facts(prefix, probe, source_tree, environ, hook_env)
    if request.nodes is not None:
        facts = replace(facts, route=route_to(request.nodes.host, request.nodes.port))
        port = request.nodes.port
    plan = build(request, facts, name, backend, selection, port if port is not None else free_port(),
                 backend.launch_sources(host))
    if not named:
        plan = replace(plan, notes=(f"profile {name}: none recorded in {prefix}/.envkit/state.json (pass --profile P)", *plan.notes))
    return Prepared(plan, probe, backend, time.perf_counter() - start, host, prof)
