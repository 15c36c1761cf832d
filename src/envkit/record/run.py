"""`detect --record` and `doctor --record`: the side-effect edge that ties the recorder together.

Both print, on stderr (stdout stays the command's own output, e.g. --json), where the scenario
went and what was left out of it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from envkit import __version__
from envkit.host import RealBoundary, detect
from envkit.hostfacts import HostFacts
from envkit.record import verdicts
from envkit.record.boundary import RecordingBoundary
from envkit.record.redact import Redactor
from envkit.record.scenario import ScenarioDir, check_target, command_line, describe, now_utc, record_host, write_meta

ENV_NOTE = "{n} of the {total} environment variables set (detection reads only the few it names)"


def record_detect(target: Path, *, redact_hostname: bool = False, argv: list[str] | None = None) -> HostFacts:
    """Detect this machine through a recording boundary and write the host scenario to `target`."""
    boundary = RecordingBoundary(RealBoundary())
    facts = detect(boundary)
    redactor = Redactor(hostname=redact_hostname)
    out = ScenarioDir(target)
    try:
        _, matches = record_host(out, boundary, facts, redactor)
        _note_env(redactor, boundary)
        write_meta(out, scenario=describe(facts), command=command_line(_argv(argv), redactor), kind="detect",
                   redactor=redactor, replay_matches=matches)
        path = out.commit()
    except BaseException:
        out.abort()
        raise
    _say(path, out.written, redactor, [] if matches else ["replaying the recording does NOT give the live facts: please report this"])
    return facts


class DoctorRecording:
    """Created before the doctor gathers facts (so detection goes through the recording boundary),
    finished after the checks ran."""

    def __init__(self, target: Path, *, redact_hostname: bool = False, argv: list[str] | None = None) -> None:
        self.target = Path(target).absolute()
        check_target(self.target)  # refuse a bad --record DIR before the probe runs
        self.boundary = RecordingBoundary(RealBoundary())
        self.redactor = Redactor(hostname=redact_hostname)
        self.argv = _argv(argv)
        self.started = now_utc()

    def host_facts(self) -> HostFacts:
        return detect(self.boundary)

    def finish(self, ctx: Any, results: list[Any], as_json_doc: str | None = None) -> Path:
        r = self.redactor
        facts = ctx.host  # HostFacts (the doctor's context is typed)
        out = ScenarioDir(self.target)
        try:
            _, host_matches = record_host(out, self.boundary, facts, r)
            _note_env(r, self.boundary)
            out.write_json("probe.json", r.data(ctx.probe, "probe.json"))
            r.note("from probe.json, every variable of the target's environment but the probe's build/runtime "
                   "ones (no secret-named variables at all)")
            out.write_json(verdicts.CONTEXT, r.data(verdicts.context_inputs(ctx), verdicts.CONTEXT))
            live = verdicts.replayable_statuses(results)
            replayed = verdicts.replay_results(verdicts.replay_context(out.stage))
            differs = verdicts.compare(live, replayed)
            bad = {line.split(":", 1)[0] for line in differs}
            out.write_json("expect.json", {cid: s for cid, s in live.items() if cid not in bad})
            if as_json_doc is not None:
                out.write_json("doctor.json", r.data(json.loads(as_json_doc), "doctor.json"))
            left = len(results) - len(live)
            if left:
                r.note(f"{left} smoke verdict(s) from expect.json (the smoke trains; it is not replayed; doctor.json has them)")
            for line in differs:
                r.note(f"from expect.json, a verdict the replay does not reproduce: {line}")
            command = command_line(self.argv, r)
            write_meta(out, scenario=describe(facts), command=command, kind="doctor", redactor=r,
                       replay_matches=host_matches and not differs,
                       extra={"target_python": r.text(str((ctx.probe.get("python") or {}).get("version")), "meta.toml"),
                              "checks_recorded": len(live) - len(bad)})
            out.write("SOURCE.md", source_stub(self.target.name, facts, ctx, command, self.started, r))
            path = out.commit()
        except BaseException:
            out.abort()
            raise
        problems = [] if host_matches else ["replaying the host recording does NOT give the live facts: please report this"]
        _say(path, out.written, r, problems)
        return path


def source_stub(name: str, facts: HostFacts, ctx: Any, command: str, date: str, r: Redactor) -> str:
    py = ctx.probe.get("python") or {}
    torch = (ctx.probe.get("torch") or {}).get("version")
    lines = [
        f"# {name}",
        "",
        "RECORDED on a real machine, not transcribed: every value here is this machine's own output,",
        "read through envkit's hardware boundary (host) and the doctor's probe (target env).",
        "",
        f"- recorded: {date} with envkit {__version__}",
        f"- command: `{command}`",
        f"- host: {describe(facts)}",
        f"- target: Python {py.get('version')} at `{r.text(str(py.get('executable')), 'SOURCE.md')}`, torch {torch or 'not installed'}",
        "- redacted: see `[recording] left_out` in meta.toml (tokens, URL credentials, home user names)",
        "",
        "<!-- Please add: what the machine is (GPU/NPU model, cloud instance type) and anything unusual. -->",
        "",
    ]
    return "\n".join(lines)


def _note_env(r: Redactor, boundary: RecordingBoundary) -> None:
    total = len(boundary.inner.env)
    kept = len(boundary.env_snapshot())
    if total > kept:
        r.note(ENV_NOTE.format(n=total - kept, total=total))


def _argv(argv: list[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)


def _say(path: Path, written: list[str], r: Redactor, problems: list[str]) -> None:
    err = sys.stderr
    print(f"envkit: recorded this machine as a scenario in {path} ({len(written)} files)", file=err)
    left = r.left_out()
    if left:
        print("envkit: left out of the recording:", file=err)
        for line in left:
            print(f"  - {line}", file=err)
    for line in problems:
        print(f"envkit: warning: {line}", file=err)
    print("envkit: to add it to envkit's tests, drop the folder under tests/data/recorded/ (or attach it to an issue)", file=err)
