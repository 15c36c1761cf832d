"""Step `weights`: the offline ResNet18 file ACT's backbone downloads on first use, checked against the
profile's sha256 and copied into TORCH_HOME (a temp file renamed: never a half-written checkpoint)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from envkit.errors import EnvkitError
from envkit.fsutil import file_digest, not_a
from envkit.setup.context import RunContext
from envkit.setup.kinds import StepKind
from envkit.setup.step import SetupOptions, Step, torch_home

if TYPE_CHECKING:
    from envkit.profiles import Profile


def destination(view: "Profile", options: SetupOptions) -> Path | None:
    """Where the file goes (torch.hub's checkpoints dir under the hooks' TORCH_HOME); None without --weights."""
    home = torch_home(options)
    if options.weights is None or home is None:
        return None
    name = view.assets.get("resnet18", {}).get("file") or Path(options.weights).name
    return home / "hub" / "checkpoints" / name


def build(view: "Profile", options: SetupOptions) -> Step | None:
    dest = destination(view, options)
    if dest is None:
        return None
    asset = view.assets.get("resnet18", {})
    return Step(
        "weights", f"offline ResNet18 weights into TORCH_HOME ({dest.name})",
        "ACT's backbone downloads resnet18 on first use and fails offline; the file is checked against the profile's "
        "sha256 (torch.hub names files after the first 8 hex digits of their hash)",
        "weights",
        files=(str(dest),),
        inputs={"file": str(options.weights), "name": dest.name, "sha256": asset.get("sha256"),
                "sha256_prefix": asset.get("sha256_prefix")},
        params={"source": str(options.weights), "dest": str(dest)},
        verify=(str(dest.relative_to(options.prefix)),),
    )


def check_weights(path: Path, sha256: str | None, sha256_prefix: str | None) -> str:
    """The file's sha256 when it matches the profile's hash (full, or torch.hub's leading digits); else EnvkitError."""
    if not Path(path).is_file():
        raise EnvkitError(f"--weights {path}: {not_a('file', path)}", fix="pass the downloaded resnet18-f37072fd.pth")
    actual = file_digest(Path(path))
    if sha256 and actual != sha256:
        raise EnvkitError(f"--weights {path}: sha256 {actual} is not the profile's {sha256}",
                          fix="download the file again from the profile's [assets.resnet18] url and compare its sha256")
    if sha256_prefix and not actual.startswith(sha256_prefix):
        raise EnvkitError(f"--weights {path}: sha256 {actual[:16]}... does not start with {sha256_prefix} "
                          f"(torch.hub names its files after the first hex digits of their sha256)",
                          fix="the file is corrupt or another model: download it again from the profile's [assets.resnet18] url")
    if not sha256 and not sha256_prefix:
        raise EnvkitError("the profile has no [assets.resnet18] sha256 or sha256_prefix to check --weights against",
                          fix="add sha256 (or sha256_prefix) to the profile's [assets.resnet18] table")
    return actual


def execute(ctx: RunContext, step: Step) -> None:
    source, dest = Path(step.params["source"]), Path(step.params["dest"])
    check_weights(source, step.inputs.get("sha256"), step.inputs.get("sha256_prefix"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    with open(source, "rb") as src, open(tmp, "wb") as out:
        first = True
        for block in iter(lambda: src.read(1 << 20), b""):
            out.write(block)
            if first:
                out.flush()
                ctx.checkpoint(step.id)  # dies with a half-written temp file, never a half-written dest
                first = False
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, dest)


KINDS = {"weights": StepKind(execute)}
