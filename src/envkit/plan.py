"""Setup as data: the ordered steps that take a fresh server to a doctor-green environment.

`build_plan` is pure: what it needs from disk (the --wheels files, a --from-lock lock and its
hashes, a lerobot tree's layout, envkit's patch file) arrives as `PlanInputs`, gathered at the
edge by `envkit.plan_inputs.gather`; what is accelerator-specific arrives in the resolved tuple's
accelerator block (no backend is looked up here). Each Step says what it does and why, the exact commands (argv lists) and the files it
writes, and carries a digest of its inputs (chained to the steps it builds on), which the runner
compares with the state file to skip finished work. `--dry-run` prints this for any profile on
any machine.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit.errors import EnvkitError
from envkit.state import STATE_DIR

if TYPE_CHECKING:
    from envkit.pipconfig import PipSources
    from envkit.profiles import Profile
    from envkit.resolve import Resolved

SCHEMA_VERSION = 1
UV = "uv"  # argv[0] placeholder; the runner substitutes the uv that envkit ships with


@dataclass(frozen=True)
class SetupOptions:
    prefix: Path
    lerobot: str | None = None
    extras: tuple[str, ...] = ()
    wheels: Path | None = None
    weights: Path | None = None
    offline: bool = False
    yes: bool = False
    visible_devices: str | None = None
    channels: tuple[str, ...] = ()
    index_url: str | None = None  # replaces the default index (PyPI) for every uv call
    from_lock: Path | None = None  # lockfiles/<profile>/ directory
    python_exe: str | None = None  # the interpreter a venv is made from (found on PATH by the caller)
    envkit_python: str = sys.executable  # runs envkit's own children (condaenv, doctor)
    no_pretrained_backbone: bool = False  # passed to the doctor: training uses pretrained_backbone_weights=null
    torch_builds: Any = None  # envkit.torch_builds.TorchBuilds: CPU builds or PyPI's, chosen at the edge
    strict_lock: bool = False  # --from-lock: refuse a lock that lacks a layer instead of solving it from the profile


@dataclass(frozen=True)
class PlanInputs:
    """What build_plan needs from files, read by the caller (envkit.plan_inputs.gather)."""

    local_wheels: dict[str, Path] = field(default_factory=dict)  # distribution -> wheel in --wheels
    lock: Any = None  # envkit.lock.LockSet of --from-lock
    lock_hashes: dict[str, str] = field(default_factory=dict)  # file name in the lock dir -> sha256
    layout_notes: tuple[str, ...] = ()  # envkit.doctor.layout.plan_facts of the lerobot source
    layout_requires: tuple[str, ...] = ()
    patch_file: str | None = None  # the shipped patch's path


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    why: str
    action: str  # which runner executor performs it
    commands: tuple[tuple[str, ...], ...] = ()
    files: tuple[str, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)  # what decides the outcome (digest source)
    params: dict[str, Any] = field(default_factory=dict)  # executor details not shown as commands
    depends: tuple[str, ...] = ()
    verify: tuple[str, ...] = ()  # globs (relative to the prefix) that exist once the step is done
    notes: tuple[str, ...] = ()
    digest: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "why": self.why, "commands": [list(c) for c in self.commands],
                "files": list(self.files), "inputs": self.inputs, "depends": list(self.depends),
                "notes": list(self.notes), "digest": self.digest}


@dataclass(frozen=True)
class Plan:
    profile: str
    prefix: Path
    environment: str  # "venv" | "conda"
    resolved_digest: str
    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()
    record: dict[str, Any] = field(default_factory=dict)  # setup's choices, saved in the state for the doctor

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "profile": self.profile, "prefix": str(self.prefix),
                "environment": self.environment, "resolved_digest": self.resolved_digest,
                "steps": [s.to_dict() for s in self.steps], "warnings": list(self.warnings)}

    def render(self) -> str:
        """The plan as text: what --dry-run prints (commands one per line, shell-quoted)."""
        import shlex

        out = [f"envkit setup plan: profile {self.profile} -> {self.prefix} ({self.environment})"]
        for i, step in enumerate(self.steps, 1):
            out.append(f"\n[{i}/{len(self.steps)}] {step.id}: {step.title}")
            out.append(f"    why: {step.why}")
            for argv in step.commands:
                out.append("    $ " + shlex.join(argv))
            for path in step.files:
                out.append(f"    writes: {path}")
            for note in step.notes:
                out.append(f"    note: {note}")
        for warning in self.warnings:
            out.append(f"\nwarning: {warning}")
        return "\n".join(out) + "\n"


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _finalize(steps: list[Step]) -> tuple[Step, ...]:
    """Chain digests: a step's digest covers its inputs and the digests of what it builds on."""
    done: dict[str, str] = {}
    out = []
    for step in steps:
        digest = _digest({"id": step.id, "action": step.action, "inputs": step.inputs,
                          "after": [done[d] for d in step.depends if d in done]})
        done[step.id] = digest
        out.append(replace(step, digest=digest))
    return tuple(out)


def diff(old: list[dict[str, Any]], plan: Plan) -> list[str]:
    """What changed since the plan recorded in the state: one line per step that will run again."""
    before = {s["id"]: s for s in old}
    lines = []
    for step in plan.steps:
        prev = before.get(step.id)
        if prev is None:
            lines.append(f"{step.id}: new step")
            continue
        if prev.get("digest") == step.digest:
            continue
        changed = [f"{k}: {json.dumps(prev.get('inputs', {}).get(k))} -> {json.dumps(v)}"
                   for k, v in step.inputs.items() if prev.get("inputs", {}).get(k) != v]
        gone = [k for k in prev.get("inputs", {}) if k not in step.inputs]
        changed += [f"{k}: removed" for k in gone]
        lines.append(f"{step.id}: " + ("; ".join(changed) if changed else "a step it builds on changed"))
    for step_id in before:
        if not any(s.id == step_id for s in plan.steps):
            lines.append(f"{step_id}: no longer part of the plan")
    return lines


# --- building ---------------------------------------------------------------------------------


def _site(resolved: "Resolved") -> str:
    return f"lib/python{resolved.python}/site-packages"


def _index_args(resolved: "Resolved", options: SetupOptions, sources: "PipSources") -> list[str]:
    args: list[str] = []
    for index in resolved.indexes:
        if index.get("url"):
            args += ["--index", f"{index['name']}={index['url']}"]
    if options.index_url:
        args += ["--default-index", options.index_url]
    return args + sources.uv_args()


def _uv_install(resolved: "Resolved", options: SetupOptions, sources: "PipSources") -> list[str]:
    python = str(options.prefix / "bin" / "python")
    return [UV, "pip", "install", "--python", python, "--compile-bytecode", *_index_args(resolved, options, sources)]


def _environment_steps(profile: "Profile", resolved: "Resolved", options: SetupOptions) -> list[Step]:
    from envkit import condaenv

    prefix = options.prefix
    channels = list(options.channels or resolved.conda["channels"])
    python_spec = f"python {resolved.python}.*"
    if profile.environment == "venv":
        exe = options.python_exe or f"python{resolved.python}"
        env = Step(
            "environment", f"virtual environment on the system Python {resolved.python}",
            f"profile '{resolved.profile}' asks for a venv (environment = \"venv\") on python{resolved.python} from PATH",
            "venv",
            commands=((UV, "venv", "--seed", "--allow-existing", "--python", exe, str(prefix)),),
            files=(str(prefix / "pyvenv.cfg"),),
            inputs={"kind": "venv", "python": resolved.python, "interpreter": exe},
            verify=("pyvenv.cfg", "bin/python"),
        )
    else:
        env = Step(
            "environment", f"conda prefix with Python {resolved.python} (py-rattler, no conda needed)",
            f"profile '{resolved.profile}' uses a conda environment; py-rattler solves and links conda packages itself",
            "conda",
            commands=(tuple(condaenv.command(prefix, channels, [python_spec], resolved.platform, python=options.envkit_python)),),
            files=(str(prefix / "conda-meta"),),
            inputs={"kind": "conda", "channels": channels, "specs": [python_spec], "platform": resolved.platform},
            verify=("bin/python", "conda-meta/python-*.json"),
        )
    return [env]


def _ffmpeg_step(resolved: "Resolved", options: SetupOptions) -> Step:
    from envkit import condaenv

    ff = resolved.ffmpeg
    channels = list(options.channels or resolved.conda["channels"])
    if ff["source"] == "conda-forge":
        specs = [f"python {resolved.python}.*", ff["conda_spec"]]
        return Step(
            "ffmpeg", f"FFmpeg {ff['major']} from {', '.join(channels)} into the prefix",
            f"the video decoder loads {ff['avutil_soname']}; a conda FFmpeg in the prefix does not depend on the host's",
            "conda",
            commands=(tuple(condaenv.command(options.prefix, channels, specs, resolved.platform, python=options.envkit_python)),),
            files=(str(options.prefix / "lib" / ff["avutil_soname"]),),
            inputs={"channels": channels, "specs": specs, "platform": resolved.platform},
            depends=("environment",),
            verify=("conda-meta/ffmpeg-*.json",),  # rattler writes the record after the package's files
        )
    from envkit.compat import matrix

    sonames = [f"libavutil.so.{matrix().ffmpeg_sonames(m)['avutil']}" for m in ff["majors_allowed"]]
    return Step(
        "ffmpeg", "FFmpeg shared libraries from the system",
        f"profile '{resolved.profile}' uses the system's FFmpeg (any of majors {ff['majors_allowed']}); torchcodec loads libavutil at runtime",
        "system-ffmpeg",
        commands=(("ldconfig", "-p"),),
        inputs={"source": "system", "sonames": sonames},
        params={"install": ["apt-get", "install", "-y", "--no-install-recommends", "ffmpeg"], "yes": options.yes},
        notes=("installed with `apt-get install -y --no-install-recommends ffmpeg` only when missing, with --yes and as root; "
               "otherwise the step fails and prints that command",),
    )


def _libpython_steps(view: "Profile", resolved: "Resolved") -> list[Step]:
    """A venv on a distribution's python3 lacks libpython3.X.so (Debian ships it apart, package libpython3.X);
    torchcodec's custom-ops library links it. Installed the way FFmpeg is: only when the env's Python cannot load it."""
    if view.environment != "venv" or not resolved.torchcodec:
        return []
    soname, package = f"libpython{resolved.python}.so.1.0", f"libpython{resolved.python}"
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    return [Step(
        "libpython", f"the shared {soname} torchcodec's custom ops link",
        f"torchcodec {resolved.torchcodec}'s libtorchcodec_custom_ops links {soname}; Debian's and Ubuntu's python3 "
        f"do not ship it (package {package})",
        "system-lib",
        commands=(("bin/python", "-c", f"import ctypes; ctypes.CDLL({soname!r})"),),
        inputs={"soname": soname, "package": package},
        params={"install": install},
        depends=("environment",),
        notes=(f"checked by loading it with the environment's Python; installed with `{' '.join(install)}` only when "
               "missing, with --yes and as root; otherwise the step fails and prints that command",),
    )]


def _torch_step(resolved: "Resolved", options: SetupOptions, sources: "PipSources", inputs: PlanInputs) -> Step:
    accel = resolved.accel
    wanted = list(accel.requirements)
    local = inputs.local_wheels
    install = _uv_install(resolved, options, sources)
    builds = options.torch_builds
    notes: list[str] = []
    if builds is not None:
        from envkit.torch_builds import size_text

        if builds.cpu_only and not local:
            # first on the command line: uv takes a package from the first index that has it
            install[install.index("--compile-bytecode") + 1:install.index("--compile-bytecode") + 1] = [
                "--index", f"{builds.index['name']}={builds.index['url']}"]
        notes.append(f"{builds.build} builds: {builds.why}")
        notes.append(f"expected size of this step: {size_text(builds.size)}")
    if options.wheels is not None:
        install += ["--find-links", str(options.wheels)]
    targets = [str(local[name]) if name in local else req for name, req in wanted]
    commands = [tuple(install + targets)]
    verify = [f"{_site(resolved)}/{dist}-{version}*.dist-info" for dist, version in accel.verify]
    video = "torchvision's PyAV path (no torchcodec build for this platform)"
    if resolved.torchcodec:
        commands.append(tuple(install + [f"torchcodec=={resolved.torchcodec}"]))
        verify.append(f"{_site(resolved)}/torchcodec-{resolved.torchcodec}*.dist-info")
        video = f"torchcodec {resolved.torchcodec}"
    src = "local wheels in " + str(options.wheels) if local else (
        ", ".join(f"index {i['name']}" for i in resolved.indexes) or "the default index")
    if builds is not None and builds.cpu_only and not local:
        src = f"index {builds.index['name']} (CPU-only builds)"
    return Step(
        "torch", f"torch {resolved.torch['version']}, torchvision {resolved.torchvision}"
        + accel.title + f", then {video}",
        f"the tuple the resolver chose ({builds.build if builds is not None and builds.cpu_only and not local else resolved.torch['build']} "
        f"build from {src}); installed before lerobot so lerobot's "
        "own pins cannot pick another torch",
        "commands",
        commands=tuple(commands),
        inputs={"requirements": [r for _, r in wanted], "torchcodec": resolved.torchcodec, "indexes": resolved.indexes,
                "index_url": options.index_url, "wheels": {k: v.name for k, v in local.items()}, "sources": sources.uv_args(),
                **({"builds": builds.build, "builds_index": builds.index["url"] if builds.index else None} if builds else {})},
        depends=("environment",),
        verify=tuple(verify),
        notes=tuple(notes),
    )


def _lerobot_steps(resolved: "Resolved", options: SetupOptions, sources: "PipSources", inputs: PlanInputs) -> list[Step]:
    lr = resolved.lerobot
    kind = lr["source"]["kind"]
    extras = sorted(set(lr.get("extras", [])) | set(options.extras))
    extra_text = f"[{','.join(extras)}]" if extras else ""
    overrides_file = options.prefix / STATE_DIR / "overrides.txt"
    install = _uv_install(resolved, options, sources) + ["--override", str(overrides_file)]
    version = lr.get("version")
    patch = lr.get("patch")
    steps: list[Step] = []
    tree: Path | None = None
    editable = False
    common_inputs = {"source": lr["source"], "version": version, "extras": extras, "overrides": resolved.overrides,
                     "patch": patch, "sources": sources.uv_args(), "index_url": options.index_url}
    if kind == "path":
        tree = Path(lr["source"]["path"])
        pyproject = Path(lr["source"]["pyproject"])
        editable = True
        if lr.get("pin_changes"):
            steps.append(Step(
                "pins", f"widen lerobot's pins in {pyproject}",
                "the local tree's pyproject excludes the resolved tuple: " + ", ".join(
                    f"{c['package']} '{c['old']}' -> '{c['new']}'" for c in lr["pin_changes"]) + " (the original is kept beside it; undo restores it)",
                "pins",
                files=(str(pyproject), str(pyproject) + ".envkit-orig"),
                inputs={"pyproject": str(pyproject), "changes": lr["pin_changes"]},
                # the pins plan the resolver made (new text included): the runner writes it, it does not plan again
                params={"pyproject": str(pyproject), "plan": resolved.pin_plan, "old_text": resolved.pin_source_text},
            ))
        if patch:
            steps.append(_patch_step(resolved, tree, patch, in_place=True, patch_file=inputs.patch_file))
    elif patch:
        # The patch is written against lerobot's source tree: fetch it, patch a copy, install that copy.
        tree = options.prefix / STATE_DIR / "src" / f"lerobot-{version or 'git'}"
        if kind == "git":
            url, ref = lr["source"].get("url"), lr["source"].get("ref")
            fetch = [("git", "clone", "--no-checkout", "--filter=blob:none", str(url), str(tree) + ".tmp"),
                     ("git", "-C", str(tree) + ".tmp", "checkout", "--detach", str(ref))]
        else:
            fetch = [(options.envkit_python, "-m", "pip", "download", "--no-deps", "--no-binary", "lerobot",
                      "--dest", str(tree.parent), f"lerobot=={version}")]
        step = _patch_step(resolved, tree, patch, in_place=False, patch_file=inputs.patch_file)
        steps.append(replace(step, id="lerobot-source", action="lerobot-source", title=f"lerobot {version} source with envkit's NPU patch",
                             commands=tuple(fetch) + step.commands, files=(str(tree),),
                             params={**step.params, "kind": kind, "version": version}))
    if tree is not None:
        target = ("-e", str(tree)) if editable else (str(tree),)
        # a path requirement with extras: "PATH[extra]" is not valid for uv; use a PEP 508 direct reference
        if extras:
            target = ("-e", f"{tree}{extra_text}") if editable else (f"lerobot{extra_text} @ {tree.as_uri()}",)
    elif kind == "git":
        target = (f"lerobot{extra_text} @ git+{lr['source']['url']}@{lr['source']['ref']}",)
    else:
        target = (f"lerobot{extra_text}=={version}",)
    layout_notes, layout_requires = inputs.layout_notes, inputs.layout_requires  # forks: layout, entry point, smoke support
    if layout_requires:
        target = (*target, *layout_requires)
        common_inputs = {**common_inputs, "layout_requires": list(layout_requires)}
    dist = f"{_site(resolved)}/lerobot-{version}.dist-info" if version else f"{_site(resolved)}/lerobot-*.dist-info"
    steps.append(Step(
        "lerobot", f"lerobot {version or ''}{extra_text} ({kind}{', editable' if editable else ''})".replace("  ", " "),
        ("lerobot's published pins exclude the tuple" if resolved.lerobot["pin_changes"] else "lerobot's pins admit the tuple")
        + "; uv --override keeps the installed torch/torchvision/torchcodec whatever lerobot's dependencies ask"
        + ("; then envkit checks its NPU patch is in the installed code" if patch else ""),
        "lerobot",
        commands=(tuple(install + list(target)),),
        files=(str(overrides_file),),
        inputs=common_inputs,
        params={"overrides": resolved.overrides, "overrides_file": str(overrides_file), "patch": patch,
                "site": _site(resolved)},
        depends=tuple(d for d in ("torch", "pins", "lerobot-source", "patch") if any(s.id == d for s in steps) or d == "torch"),
        verify=(dist,),
        notes=layout_notes,
    ))
    return steps


def _patch_step(resolved: "Resolved", tree: Path, patch: str, in_place: bool, patch_file: str | None) -> Step:
    patch_file = patch_file or f"<envkit data>/patches/{patch}"
    return Step(
        "patch", f"apply envkit's NPU patch {patch} to {tree}",
        "lerobot needs the NPU device paths (auto-select, safe device, torch_npu import); the patch is dry-checked first "
        "and refused when corrupt or not applying",
        "patch",
        commands=(("git", "-C", str(tree), "apply", "--check", patch_file), ("git", "-C", str(tree), "apply", patch_file)),
        files=(str(tree),),
        inputs={"tree": str(tree), "patch": patch, "in_place": in_place},
        params={"tree": str(tree), "patch": patch, "in_place": in_place},
    )


def _without_constraints(args: list[str]) -> list[str]:
    """pip's --constraint files are ranges, which --require-hashes rejects; the lock is exact anyway."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--constraint":
            skip = True
        else:
            out.append(arg)
    return out


def _lock_steps(view: "Profile", resolved: "Resolved", options: SetupOptions, sources: "PipSources",
                inputs: PlanInputs) -> tuple[list[Step], list[str]]:
    """--from-lock: exactly what lockfiles/<profile>/ says (conda layer via rattler, PyPI layer with hashes).

    A lock without its conda layer (conda-forge unreachable where it was made) still installs the
    PyPI layer exactly; the conda base (python, FFmpeg) is then solved from the profile, and the
    plan says so. --strict-lock refuses instead. A profile that patches lerobot builds it from the
    locked source archive (sha256 from the lock) and verifies the patch, as without a lock.
    """
    from envkit import condaenv

    lock = inputs.lock
    if lock is None:
        raise ValueError("build_plan with --from-lock needs PlanInputs.lock (envkit.plan_inputs.gather reads it)")
    if lock.profile != view.name:
        raise EnvkitError(f"--from-lock {options.from_lock} locks profile '{lock.profile}', not '{view.name}'",
                          fix=f"pass lockfiles/{view.name}")
    if options.extras:
        # the lock installs exactly its own package list (--no-deps): an extra would be dropped silently
        raise EnvkitError(f"--extras {','.join(options.extras)} cannot be added to --from-lock {options.from_lock}: the lock installs "
                          "exactly the packages it was locked with", fix=f"set up without --from-lock to add the extras "
                          f"(envkit setup --profile {view.name} --extras {','.join(options.extras)}), or lock them in")
    platform = resolved.platform
    layers = lock.layers(platform)
    if "pypi" not in layers:
        gap = lock.missing("pypi", platform)
        raise EnvkitError(f"--from-lock {options.from_lock} has no PyPI layer for {platform} ({gap['why']})",
                          fix=f"lock it: {gap['lock_with']}, or set up without --from-lock")
    steps: list[Step] = []
    warnings: list[str] = []
    patch = resolved.lerobot.get("patch")
    if patch:
        steps += [s for s in _lerobot_steps(resolved, options, sources, inputs) if s.id in ("lerobot-source", "patch")]
    if view.environment == "conda" and "conda" in layers:
        steps.append(Step(
            "environment", f"conda prefix exactly as {options.from_lock.name}/conda-lock.yml locks it (py-rattler)",
            "the lock's records carry URLs and hashes: no solve, the same packages on every machine",
            "conda", commands=(tuple(condaenv.lock_command(options.prefix, options.from_lock, platform, python=options.envkit_python)),),
            inputs={"lock": inputs.lock_hashes["conda-lock.yml"], "platform": platform},
            verify=("bin/python", "conda-meta/python-*.json")))
    elif view.environment == "conda":
        gap = lock.missing("conda", platform)
        if options.strict_lock:
            raise EnvkitError(f"--from-lock {options.from_lock} has no conda layer for {platform} ({gap['why']}); "
                              "--strict-lock installs only what the lock holds",
                              fix=f"lock it on a machine that reaches the channel: {gap['lock_with']}; or drop --strict-lock "
                                  "to solve the conda base (python, FFmpeg) from the profile")
        said = (f"the lock has no conda layer for {platform} ({gap['why']}): the conda base (python, FFmpeg) is solved "
                f"from profile '{view.name}' now, not installed from the lock; the PyPI layer is installed exactly from the lock")
        warnings.append(said)
        short = f"solved from the profile, not installed from the lock: the lock has no conda layer for {platform}"
        steps += [replace(s, notes=(*s.notes, short)) for s in _environment_steps(view, resolved, options)]
        ffmpeg = _ffmpeg_step(resolved, options)
        steps.append(replace(ffmpeg, notes=(*ffmpeg.notes, short)) if ffmpeg.action == "conda" else ffmpeg)
    else:
        steps += _environment_steps(view, resolved, options)
        steps.append(_ffmpeg_step(resolved, options))
    steps += _libpython_steps(view, resolved)
    requirements = lock.pip_requirements[platform]
    install = [UV, "pip", "install", "--python", str(options.prefix / "bin" / "python"), "--compile-bytecode",
               "--require-hashes", "--no-deps", *_without_constraints(_index_args(resolved, options, sources))]
    for link in lock.find_links.get(platform, ()):
        install += ["--find-links", link]
    if "--index-strategy" not in install:
        install += ["--index-strategy", "unsafe-best-match"]  # a local index may hold older versions than PyPI
    install += ["-r", str(requirements)]
    steps.append(Step(
        "packages", f"the locked PyPI layer ({requirements.name}), hashes required",
        "--no-deps: the lock is the whole closure (lerobot's own pins would fight the locked torch)",
        "commands", commands=(tuple(install),),
        inputs={"requirements": inputs.lock_hashes[requirements.name], "sources": sources.uv_args(), "index_url": options.index_url},
        depends=("environment",),
        verify=(f"{_site(resolved)}/torch-{resolved.torch['version']}*.dist-info", f"{_site(resolved)}/lerobot-*.dist-info")))
    if patch:
        steps = _locked_patched_lerobot(steps, lock.lerobot_sdist(platform), resolved, options, sources)
    return steps, warnings


def _locked_patched_lerobot(steps: list[Step], sdist: dict[str, str] | None, resolved: "Resolved", options: SetupOptions,
                            sources: "PipSources") -> list[Step]:
    """The locked wheel of lerobot lacks envkit's NPU patch: rebuild it from the locked sdist, patched and verified."""
    source = next((s for s in steps if s.id == "lerobot-source"), None)
    if source is None:  # a local tree (--lerobot PATH) is patched in place by the 'patch' step
        tree = Path(resolved.lerobot["source"]["path"])
    else:
        if sdist is None or sdist.get("version") != source.params.get("version"):
            raise EnvkitError(f"--from-lock {options.from_lock} records no source archive of lerobot {source.params.get('version')} "
                              "to build the patched lerobot from",
                              fix=f"re-lock with this envkit: envkit lock --profile {resolved.profile} --platform {resolved.platform} --layer pypi")
        fetch = source.commands[0]
        steps[steps.index(source)] = replace(
            source, why=source.why + f"; the downloaded archive must have the lock's sha256 {sdist['sha256'][:16]}...",
            inputs={**source.inputs, "sha256": sdist["sha256"]}, params={**source.params, "sha256": sdist["sha256"]},
            commands=(fetch, *source.commands[1:]))
        tree = Path(source.params["tree"])
    install = _uv_install(resolved, options, sources) + ["--no-deps", "--reinstall-package", "lerobot", str(tree)]
    overrides_file = options.prefix / STATE_DIR / "overrides.txt"
    steps.append(Step(
        "lerobot", f"lerobot {resolved.lerobot.get('version') or ''} from the patched source, over the locked wheel",
        "the lock holds lerobot's published wheel, which lacks envkit's NPU patch; --no-deps keeps every locked "
        "package; then envkit checks its NPU patch is in the installed code",
        "lerobot", commands=(tuple(install),), files=(str(overrides_file),),
        inputs={"tree": str(tree), "patch": resolved.lerobot.get("patch"), "sha256": (sdist or {}).get("sha256")},
        params={"overrides": resolved.overrides, "overrides_file": str(overrides_file), "patch": resolved.lerobot.get("patch"),
                "site": _site(resolved)},
        depends=tuple(d for d in ("packages", "lerobot-source", "patch") if any(s.id == d for s in steps)),
        verify=(f"{_site(resolved)}/lerobot-{resolved.lerobot.get('version')}*.dist-info",)))
    return steps


def build_plan(
    profile: "Profile",
    resolved: "Resolved",
    options: SetupOptions,
    sources: "PipSources | None" = None,
    set_env_candidates: tuple[str, ...] | None = None,
    inputs: PlanInputs | None = None,
) -> Plan:
    """The setup plan for one resolved tuple (pure: files it needs come in `inputs`)."""
    from envkit.pipconfig import PipSources

    sources = sources if sources is not None else PipSources()
    inputs = inputs if inputs is not None else PlanInputs()
    if options.wheels is not None and not inputs.local_wheels and any(w.required for w in resolved.accel.wheels):
        raise ValueError("build_plan with --wheels needs PlanInputs.local_wheels (envkit.plan_inputs.gather finds them)")
    view = profile.for_platform(resolved.platform)
    prefix = options.prefix
    warnings = list(resolved.warnings) + list(getattr(sources, "warnings", lambda: [])())
    if options.from_lock is not None:
        steps, said = _lock_steps(view, resolved, options, sources, inputs)
        warnings += said
    else:
        lerobot_steps = _lerobot_steps(resolved, options, sources, inputs)
        # Source work first (pins, patch): a patch that does not apply is refused before minutes of installs.
        steps = [s for s in lerobot_steps if s.id != "lerobot"]
        steps += _environment_steps(view, resolved, options)
        steps.append(_ffmpeg_step(resolved, options))
        steps += _libpython_steps(view, resolved)
        steps.append(_torch_step(resolved, options, sources, inputs))
        steps += [s for s in lerobot_steps if s.id == "lerobot"]

    ffmpeg_in_prefix = resolved.ffmpeg["source"] == "conda-forge"
    torch_home = prefix / "share" / "envkit" / "torch" if options.weights else None
    if set_env_candidates is None:
        set_env_candidates = resolved.accel.hooks.source_first
    from envkit.hooks import ACTIVATE, DEACTIVATE, hook_spec

    spec = hook_spec(resolved, prefix, ffmpeg_in_prefix=ffmpeg_in_prefix, visible_devices=options.visible_devices,
                     offline=options.offline, torch_home=torch_home, set_env_candidates=set_env_candidates)
    shown = [f"{k}={v}" for k, v in spec.env.items()]
    if spec.ld_library_path:
        shown.append(f"LD_LIBRARY_PATH={':'.join(spec.ld_library_path)}:$LD_LIBRARY_PATH")
    if spec.source_first:
        shown.append("sources the first of " + ", ".join(spec.source_first))
    steps.append(Step(
        "hooks", "activation hooks (set and exactly restore the environment's variables)",
        "conda, micromamba and pixi source etc/conda/activate.d; `envkit run` and `envkit shell-hook` do too (venvs included); "
        "sets " + ("; ".join(shown) or "nothing beyond PATH"),
        "hooks",
        files=(str(prefix / ACTIVATE), str(prefix / DEACTIVATE)),
        inputs={"env": spec.env, "ld_library_path": list(spec.ld_library_path), "pythonpath": list(spec.pythonpath),
                "source_first": list(spec.source_first)},
        params={"spec": spec},
        verify=(str(ACTIVATE), str(DEACTIVATE)),
    ))
    if options.weights is not None:
        assert torch_home is not None
        asset = view.assets.get("resnet18", {})
        name = asset.get("file") or Path(options.weights).name
        dest = torch_home / "hub" / "checkpoints" / name
        steps.append(Step(
            "weights", f"offline ResNet18 weights into TORCH_HOME ({name})",
            "ACT's backbone downloads resnet18 on first use and fails offline; the file is checked against the profile's "
            "sha256 (torch.hub names files after the first 8 hex digits of their hash)",
            "weights",
            files=(str(dest),),
            inputs={"file": str(options.weights), "name": name, "sha256": asset.get("sha256"),
                    "sha256_prefix": asset.get("sha256_prefix")},
            params={"source": str(options.weights), "dest": str(dest)},
            verify=(str(dest.relative_to(prefix)),),
        ))
    record = _record(view, resolved, options, torch_home, view.user_file)
    # The profile's file for a user's profile (its name is unknown to `load_profile`), the name for a built-in one.
    doctor = [options.envkit_python, "-c", "from envkit.cli import run_main; run_main()", "doctor",
              "--prefix", str(prefix), "--profile", record["profile_file"] or view.name, "--json"]
    doctor.append("--no-pretrained-backbone" if options.no_pretrained_backbone else "--pretrained-backbone")
    steps.append(Step(
        "doctor", "envkit doctor with its smoke ACT step",
        "proves the result trains: imports, a real video decode, and a few ACT optimizer steps on this machine",
        "doctor",
        commands=(tuple(doctor),),
        inputs={"resolved": resolved.digest(), "no_pretrained_backbone": options.no_pretrained_backbone},
        depends=tuple(s.id for s in steps),
    ))
    return Plan(view.name, prefix, view.environment, resolved.digest(), _finalize(steps), tuple(warnings), record)


def _record(view: "Profile", resolved: "Resolved", options: SetupOptions, torch_home: Path | None,
            profile_file: str | None) -> dict[str, Any]:
    """What the doctor needs to judge this prefix later without flags (envkit.doctor.setup_record reads it)."""
    source = resolved.lerobot["source"]
    lerobot = None
    if options.lerobot:
        lerobot = source.get("path") if source.get("kind") == "path" else (source.get("text") or options.lerobot)
    weights = None
    if options.weights is not None and torch_home is not None:
        name = view.assets.get("resnet18", {}).get("file") or Path(options.weights).name
        weights = str(torch_home / "hub" / "checkpoints" / name)
    return {"profile": view.name, "profile_file": profile_file, "platform": resolved.platform, "python": resolved.python,
            "lerobot": lerobot, "overrides": list(resolved.overrides),
            "no_pretrained_backbone": options.no_pretrained_backbone, "weights": weights,
            "extras": sorted(set(resolved.lerobot.get("extras", [])) | set(options.extras)),
            "from_lock": str(options.from_lock) if options.from_lock else None}
