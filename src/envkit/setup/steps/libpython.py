"""Step `libpython`: the shared libpython3.X a venv's torchcodec links (Debian ships it apart);
installed the way the system FFmpeg is, only when the environment's Python cannot load it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envkit.setup.context import CommandFailed, RunContext, apt_install
from envkit.setup.kinds import StepKind
from envkit.setup.step import Step

if TYPE_CHECKING:
    from envkit.profiles import Profile
    from envkit.resolve import Resolved


def build(view: "Profile", resolved: "Resolved") -> list[Step]:
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


def execute(ctx: RunContext, step: Step) -> None:
    """apt-get installs the library's package as root with --yes, else the step fails with the exact command."""
    argv = [str(ctx.prefix / step.commands[0][0]), *step.commands[0][1:]]

    def loads() -> bool:
        try:
            ctx.run(step, argv, capture=True)
        except CommandFailed:
            return False
        return True

    ctx.checkpoint(step.id)
    if loads():
        ctx.write(f"# {step.inputs['soname']} loads\n")
        return
    install = step.params["install"]
    command = apt_install(ctx, step, install, argv, f"{step.inputs['soname']} does not load (package {step.inputs['package']})")
    if not loads():
        raise CommandFailed(install, 1, f"{command} finished but {step.inputs['soname']} still does not load")


KINDS = {"system-lib": StepKind(execute)}
