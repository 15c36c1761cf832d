"""Step `doctor`: `envkit doctor --json` with its smoke ACT step in the new environment, as a child;
its verdict is recorded in the state (a green one with the same inputs lets a rerun skip it)."""

from __future__ import annotations

import shlex
import subprocess
import time

from envkit.doctor.verdict import DoctorReport
from envkit.setup.context import CommandFailed, RunContext
from envkit.setup.kinds import StepKind
from envkit.setup.step import SetupOptions, Step


def build(options: SetupOptions, profile_ref: str, resolved_digest: str, depends: tuple[str, ...]) -> Step:
    """`profile_ref`: the profile's file for a user's profile (its name is unknown to `load_profile`), else its name."""
    doctor = [options.envkit_python, "-c", "from envkit.cli import run_main; run_main()", "doctor",
              "--prefix", str(options.prefix), "--profile", profile_ref, "--json"]
    doctor.append("--no-pretrained-backbone" if options.no_pretrained_backbone else "--pretrained-backbone")
    return Step(
        "doctor", "envkit doctor with its smoke ACT step",
        "proves the result trains: imports, a real video decode, and a few ACT optimizer steps on this machine",
        "doctor",
        commands=(tuple(doctor),),
        inputs={"resolved": resolved_digest, "no_pretrained_backbone": options.no_pretrained_backbone},
        depends=depends,
    )


def execute(ctx: RunContext, step: Step) -> None:
    argv = list(step.commands[0])
    ctx.write(f"$ {shlex.join(argv)}\n")
    proc = subprocess.run(argv, env=ctx.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    ctx.write(proc.stdout[-20000:] + proc.stderr[-20000:])
    ctx.checkpoint(step.id)
    try:
        report: DoctorReport | None = DoctorReport.from_json(proc.stdout)
    except ValueError:
        report = None  # the doctor stopped before judging (bad input, a probe that could not run): stderr says why
    verdict = "green" if proc.returncode == 0 and report is not None and report.ok else "red"
    ctx.state.doctor = {"verdict": verdict, "exit_code": proc.returncode, "digest": step.digest,
                        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "failed": [c.id for c in report.failed] if report else [],
                        "summary": report.summary_text() if report else None,
                        "train_entry": report.versions.get("train_entry") if report else None,
                        "train_command": report.train_command if report else None}
    ctx.state.save()
    ctx.doctor_output = report.to_dict() if report else None
    if verdict != "green":
        tail = (proc.stderr.strip().splitlines() or ["no report printed"])[-1]
        raise CommandFailed(argv, proc.returncode or 1,
                            "the environment is built but the doctor is not green: "
                            + (f"failed {report.failure_text()}" if report and report.failed else tail))


def green(ctx: RunContext, step: Step) -> bool:
    """The last verdict was green with these inputs: a rerun that changed nothing need not run it again."""
    last = ctx.state.doctor or {}
    return last.get("verdict") == "green" and last.get("digest") == step.digest


KINDS = {"doctor": StepKind(execute)}
