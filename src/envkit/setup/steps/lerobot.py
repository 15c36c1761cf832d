"""Step `lerobot`: lerobot itself (PyPI, git, a local tree or envkit's patched source), installed
over the resolved torch with uv --override; a patched install is checked for the patch's markers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit import lerobot_patch
from envkit.fsutil import atomic_write
from envkit.setup.context import CommandFailed, RunContext
from envkit.setup.kinds import StepKind
from envkit.setup.step import PlanInputs, SetupOptions, Step, overrides_file, site, uv_install

if TYPE_CHECKING:
    from envkit.pipconfig import PipSources
    from envkit.resolve import Resolved


def build(resolved: "Resolved", options: SetupOptions, sources: "PipSources", inputs: PlanInputs,
          tree: Path | None, before: tuple[str, ...]) -> Step:
    """`tree`: the source to install from (a local tree: editable; a fetched, patched one); `before`: the
    ids of the source steps planned ahead of it (pins, lerobot-source, patch)."""
    lr = resolved.lerobot
    kind = lr["source"]["kind"]
    extras = sorted(set(lr.get("extras", [])) | set(options.extras))
    extra_text = f"[{','.join(extras)}]" if extras else ""
    overrides = overrides_file(options)
    install = uv_install(resolved, options, sources) + ["--override", str(overrides)]
    version = lr.get("version")
    patch = lr.get("patch")
    editable = kind == "path"
    common_inputs: dict[str, Any] = {"source": lr["source"], "version": version, "extras": extras, "overrides": resolved.overrides,
                                     "patch": patch, "sources": sources.uv_args(), "index_url": options.index_url}
    if tree is not None:
        target: tuple[str, ...] = ("-e", str(tree)) if editable else (str(tree),)
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
    dist = f"{site(resolved)}/lerobot-{version}.dist-info" if version else f"{site(resolved)}/lerobot-*.dist-info"
    return Step(
        "lerobot", f"lerobot {version or ''}{extra_text} ({kind}{', editable' if editable else ''})".replace("  ", " "),
        ("lerobot's published pins exclude the tuple" if resolved.lerobot["pin_changes"] else "lerobot's pins admit the tuple")
        + "; uv --override keeps the installed torch/torchvision/torchcodec whatever lerobot's dependencies ask"
        + ("; then envkit checks its NPU patch is in the installed code" if patch else ""),
        "lerobot",
        commands=(tuple(install + list(target)),),
        files=(str(overrides),),
        inputs=common_inputs,
        params={"overrides": resolved.overrides, "overrides_file": str(overrides), "patch": patch,
                "site": site(resolved)},
        depends=tuple(d for d in ("torch", "pins", "lerobot-source", "patch") if d in before or d == "torch"),
        verify=(dist,),
        notes=layout_notes,
    )


def build_locked(resolved: "Resolved", options: SetupOptions, sources: "PipSources", tree: Path,
                 sha256: str | None, before: tuple[str, ...]) -> Step:
    """The locked wheel of lerobot lacks envkit's NPU patch: rebuilt from the locked sdist (or the local tree), over it."""
    install = uv_install(resolved, options, sources) + ["--no-deps", "--reinstall-package", "lerobot", str(tree)]
    overrides = overrides_file(options)
    return Step(
        "lerobot", f"lerobot {resolved.lerobot.get('version') or ''} from the patched source, over the locked wheel",
        "the lock holds lerobot's published wheel, which lacks envkit's NPU patch; --no-deps keeps every locked "
        "package; then envkit checks its NPU patch is in the installed code",
        "lerobot", commands=(tuple(install),), files=(str(overrides),),
        inputs={"tree": str(tree), "patch": resolved.lerobot.get("patch"), "sha256": sha256},
        params={"overrides": resolved.overrides, "overrides_file": str(overrides), "patch": resolved.lerobot.get("patch"),
                "site": site(resolved)},
        depends=tuple(d for d in ("packages", "lerobot-source", "patch") if d in before),
        verify=(f"{site(resolved)}/lerobot-{resolved.lerobot.get('version')}*.dist-info",))


def execute(ctx: RunContext, step: Step) -> None:
    atomic_write(Path(step.params["overrides_file"]), "\n".join(step.params["overrides"]) + "\n")
    ctx.checkpoint(step.id)
    ctx.run(step, step.commands[0])
    if step.params.get("patch"):
        site_dir = ctx.prefix / step.params["site"]
        missing = lerobot_patch.verify_installed(site_dir)
        editable = [a for a in step.commands[0] if a == "-e"]
        if missing and editable:  # an editable install keeps the code in the tree
            missing = lerobot_patch.verify_installed(Path(step.commands[0][step.commands[0].index("-e") + 1]))
        if missing:
            raise CommandFailed(step.commands[0], 1, "the installed lerobot lacks envkit's NPU patch: " + "; ".join(missing))


KINDS = {"lerobot": StepKind(execute)}
