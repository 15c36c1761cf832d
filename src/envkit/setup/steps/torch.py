"""Step `torch`: torch, torchvision and the accelerator's own wheels from the resolved tuple (then
torchcodec), installed before lerobot so lerobot's pins cannot pick another torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envkit.setup.kinds import COMMANDS
from envkit.setup.step import PlanInputs, SetupOptions, Step, site, uv_install
from envkit.torch_builds import size_text

if TYPE_CHECKING:
    from envkit.pipconfig import PipSources
    from envkit.resolve import Resolved


def build(resolved: "Resolved", options: SetupOptions, sources: "PipSources", inputs: PlanInputs) -> Step:
    accel = resolved.accel
    wanted = list(accel.requirements)
    local = inputs.local_wheels
    install = uv_install(resolved, options, sources)
    builds = options.torch_builds
    notes: list[str] = []
    if builds is not None:
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
    verify = [f"{site(resolved)}/{dist}-{version}*.dist-info" for dist, version in accel.verify]
    video = "torchvision's PyAV path (no torchcodec build for this platform)"
    if resolved.torchcodec:
        commands.append(tuple(install + [f"torchcodec=={resolved.torchcodec}"]))
        verify.append(f"{site(resolved)}/torchcodec-{resolved.torchcodec}*.dist-info")
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


KINDS = {"commands": COMMANDS}
