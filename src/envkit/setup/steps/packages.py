"""Step `packages` (--from-lock): the lock's PyPI layer, exactly (hashes required, --no-deps: the
lock is the whole closure, so lerobot's own pins cannot fight the locked torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envkit.setup.kinds import COMMANDS
from envkit.setup.step import UV, PlanInputs, SetupOptions, Step, index_args, site

if TYPE_CHECKING:
    from envkit.pipconfig import PipSources
    from envkit.resolve import Resolved


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


def build(resolved: "Resolved", options: SetupOptions, sources: "PipSources", inputs: PlanInputs, lock: Any) -> Step:
    platform = resolved.platform
    requirements = lock.pip_requirements[platform]
    install = [UV, "pip", "install", "--python", str(options.prefix / "bin" / "python"), "--compile-bytecode",
               "--require-hashes", "--no-deps", *_without_constraints(index_args(resolved, options, sources))]
    for link in lock.find_links.get(platform, ()):
        install += ["--find-links", link]
    if "--index-strategy" not in install:
        install += ["--index-strategy", "unsafe-best-match"]  # a local index may hold older versions than PyPI
    install += ["-r", str(requirements)]
    return Step(
        "packages", f"the locked PyPI layer ({requirements.name}), hashes required",
        "--no-deps: the lock is the whole closure (lerobot's own pins would fight the locked torch)",
        "commands", commands=(tuple(install),),
        inputs={"requirements": inputs.lock_hashes[requirements.name], "sources": sources.uv_args(), "index_url": options.index_url},
        depends=("environment",),
        verify=(f"{site(resolved)}/torch-{resolved.torch['version']}*.dist-info", f"{site(resolved)}/lerobot-*.dist-info"))


KINDS = {"commands": COMMANDS}
