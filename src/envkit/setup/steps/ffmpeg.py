"""Step `ffmpeg`: FFmpeg's shared libraries, from conda-forge into the prefix, or the system's
(found with `ldconfig -p`; installed with apt-get only as root with --yes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envkit import condaenv
from envkit.compat import matrix
from envkit.setup.context import CommandFailed, RunContext, apt_install
from envkit.setup.kinds import StepKind
from envkit.setup.step import SetupOptions, Step

if TYPE_CHECKING:
    from envkit.resolve import Resolved


def build(resolved: "Resolved", options: SetupOptions) -> Step:
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


def execute_system(ctx: RunContext, step: Step) -> None:
    sonames = step.inputs["sonames"]

    def present() -> str | None:
        listing = ctx.run(step, ["ldconfig", "-p"], capture=True)
        for line in listing.splitlines():
            name = line.strip().split(" ", 1)[0]
            if name in sonames:
                return name
        return None

    found = present()
    ctx.checkpoint(step.id)
    if found:
        ctx.write(f"# system FFmpeg found: {found}\n")
        return
    install = step.params["install"]
    command = apt_install(ctx, step, install, ["ldconfig", "-p"], f"no system FFmpeg library ({' or '.join(sonames[:2])}...) found")
    if not present():
        raise CommandFailed(install, 1, f"{command} finished but no libavutil in {sonames} is known to the loader")


# A conda FFmpeg is the `conda` kind (envkit.setup.steps.environment): rattler's command is the whole work.
KINDS = {"system-ffmpeg": StepKind(execute_system)}
