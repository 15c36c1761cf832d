"""Render results: a human table (rich), one JSON object, or a Markdown block for a lerobot bug report."""

from __future__ import annotations

import platform
from typing import Any

from envkit import __version__, lerobot_caps, train_args
from envkit.doctor import accel
from envkit.doctor.model import CheckResult, Context, Status
from envkit.doctor.verdict import DoctorReport
from envkit.targetenv.layout import from_probe

# How to record this machine for envkit's tests (envkit/record/); printed under `envkit doctor --report`.
RECORD_HINT = (
    "To let envkit's tests replay this machine: `envkit doctor --no-smoke --record envkit-scenario`, "
    "look through the folder (tokens, URL credentials and home user names are redacted), "
    "then zip it and attach it to the issue."
)

MARK = {Status.OK: "[green]✓[/]", Status.WARN: "[yellow]![/]", Status.FAIL: "[red]✗[/]",
        Status.SKIP: "[dim]-[/]", Status.ERROR: "[magenta]☠[/]"}


def exit_code(results: list[CheckResult], fail_on: str = "fail") -> int:
    return DoctorReport("", None, list(results), fail_on=fail_on).exit_code


def build(ctx: Context, results: list[CheckResult], fail_on: str = "fail") -> DoctorReport:
    """The one typed report that --json, --report, the human table and setup's doctor step share."""
    caps = lerobot_caps.from_probe(ctx.probe)
    command = None
    if caps is not None and caps.entry:
        try:
            device = ctx.backend.device
        except Exception:  # noqa: BLE001 - no backend for this host/profile: the hint is optional
            device = "cpu"
        command = train_args.hint(caps, device)
    return DoctorReport(
        envkit_version=__version__, target=ctx.target.describe() if ctx.target else None, checks=list(results),
        profile=getattr(ctx.profile, "name", None),
        profile_file=str(ctx.profile.path) if getattr(ctx.profile, "path", None) else None,
        inputs_from=str(ctx.setup.state) if ctx.setup.state else None, lerobot=ctx.setup.lerobot,
        overrides=list(ctx.setup.overrides), no_pretrained_backbone=ctx.setup.no_pretrained_backbone,
        probe_seconds=ctx.scratch.get("probe_seconds"), fail_on=fail_on, versions=versions(ctx),
        lerobot_caps=caps.to_dict() if caps is not None else None, train_command=command,
    )


def to_json(ctx: Context, results: list[CheckResult], fail_on: str = "fail") -> str:
    return build(ctx, results, fail_on).to_json()


def _duration(ms: float | None) -> str:
    # Checks judge facts the probe gathered once; most take well under a millisecond, which
    # "(0 ms)" misstated as a timing. Show a check's time only where it did measurable work.
    return f" [dim]({ms:.0f} ms)[/]" if ms is not None and ms >= 1 else ""


def versions(ctx: Context) -> dict[str, Any]:
    """The tuple this env resolved to, flat, so `envkit fleet report` can compare hosts key by key."""
    p = ctx.probe
    dists = p.get("dists") or {}
    loaded = (p.get("video") or {}).get("loaded") or []
    avutil = [lib["name"] for lib in loaded if str(lib.get("name", "")).startswith("libavutil") and lib.get("origin") == "system"]

    layout = from_probe(p)
    caps = lerobot_caps.from_probe(p)
    found = {
        "python": (p.get("python") or {}).get("version"),
        **{name: dists.get(name) for name in ("torch", "torchvision", "torchcodec", "av", "lerobot")},
        "ffmpeg": avutil[0] if avutil else None,  # the libavutil torchcodec loaded: its soname is the FFmpeg major
    }
    for share in accel.hooks("versions"):  # every installed backend's keys, None where it is absent
        found.update(share(ctx))
    # how this env's lerobot trains (lerobot-train, or `python -m ...` for old layouts and forks)
    found["train_entry"] = (caps.entry if caps is not None and caps.entry else None) or (layout.entry if layout else None)
    return found


def print_human(ctx: Context, results: list[CheckResult], verbose: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    if ctx.target:
        t = ctx.target.describe()
        console.print(f"Target: {t['python']} ({t['source']})" + (f", hook {t['hook']}" if t["hook"] else ""))
    report = build(ctx, results)
    if report.profile:
        console.print(f"Profile: {report.profile} ({report.profile_file})" + (f", as recorded in {report.inputs_from}" if report.inputs_from else ""))
    if report.probe_seconds is not None:
        console.print(f"Facts gathered by one probe of the target in {report.probe_seconds:.1f} s; each check below judges them")
    category = None
    for r in results:
        cat = r.id.split(".")[0]
        if cat != category:
            category = cat
            console.print(f"\n[bold]{cat}[/]")
        console.print(f" {MARK[r.status]} {r.id:<26} {escape(r.summary)}{_duration(r.duration_ms)}")
        if r.fix and r.status in (Status.FAIL, Status.WARN, Status.ERROR):
            console.print(f"     [bold]fix:[/] {escape(r.fix)}")
        if r.details and (verbose or r.status == Status.ERROR):
            for line in r.details.splitlines()[-15:]:
                console.print(f"     [dim]{escape(line)}[/]")
    counts = {s: sum(r.status == s for r in results) for s in Status}
    console.print("\n" + ", ".join(f"{n} {s.value}" for s, n in counts.items() if n))


def markdown(ctx: Context, results: list[CheckResult]) -> str:
    """lerobot-info's fields (taken from the probe, i.e. the target env) plus versions and verdicts."""
    p = ctx.probe
    dists = p.get("dists") or {}
    torch = p.get("torch") or {}
    video = p.get("video") or {}
    avutil = [lib["path"] for lib in video.get("loaded") or [] if lib["name"].startswith("libavutil") and lib.get("origin") == "system"]
    rows: list[tuple[str, Any]] = [
        ("LeRobot version", dists.get("lerobot")),
        ("Platform", f"{platform.system()}-{platform.release()}-{(p.get('marker_env') or {}).get('platform_machine')}"),
        ("Python version", (p.get("python") or {}).get("version")),
        ("Huggingface Hub version", dists.get("huggingface-hub")),
        ("Datasets version", dists.get("datasets")),
        ("Numpy version", dists.get("numpy")),
        ("FFmpeg version (CLI on PATH)", (video.get("ffmpeg_cli") or {}).get("version_line") or "not found"),
        ("FFmpeg loaded by torchcodec", ", ".join(avutil) or "none"),
        ("PyTorch version", torch.get("version")),
        ("Torchvision version", dists.get("torchvision")),
        ("Torchcodec version", dists.get("torchcodec")),
        ("PyAV version", dists.get("av")),
        ("Accelerate version", dists.get("accelerate")),
        *[row for rows in accel.hooks("report_rows") for row in rows(ctx)],  # each backend's fields
        ("Container", ctx.host.container),
        ("envkit version / profile", f"{__version__} / {getattr(ctx.profile, 'name', None)}"
                                     + (f" ({ctx.profile.path})" if getattr(ctx.profile, "path", None) else "")),
    ]
    lines = ["```markdown", "## Environment (envkit doctor --report)", ""]
    lines += [f"- {k}: {v if v is not None else 'N/A'}" for k, v in rows]
    problems = [r for r in results if r.status in (Status.FAIL, Status.ERROR, Status.WARN)]
    lines += ["", f"### Doctor verdicts ({sum(r.status == Status.OK for r in results)} ok, {len(problems)} problem(s))", ""]
    for r in problems or results:
        lines.append(f"- `{r.id}` **{r.status.value}**: {r.summary}" + (f" — fix: `{r.fix}`" if r.fix and r.status != Status.OK else ""))
    lines.append("```")

    lines += ["", RECORD_HINT]
    return "\n".join(lines)
