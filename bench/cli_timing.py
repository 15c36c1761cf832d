"""Wall-clock timing of short CLI runs, shared by bench_cli.py and bench_pins.py.

The machines these run on are shared and loaded, so every figure is a median of interleaved
runs (one run of each command per round: a burst of load hits all of them alike), printed with
the load average; `--against REV` times envkit as it was at a git revision (extracted with
`git archive`, nothing in the repository changes) beside the working tree.
"""

from __future__ import annotations

import compileall
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENVKIT_MAIN = "from envkit.cli import run_main; run_main()"


@dataclass
class Tree:
    """An envkit source tree: the working tree, or a revision extracted for comparison."""

    label: str
    src: Path

    def argv(self, *args: str) -> list[str]:
        # python -c, not the console script, so every tree starts the same way
        return [sys.executable, "-c", ENVKIT_MAIN, *args]

    def env(self) -> dict[str, str]:
        # PYTHONPATH comes before the editable install's .pth entry, so this tree's envkit wins
        return {**os.environ, "PYTHONPATH": str(self.src)}


def working_tree() -> Tree:
    compileall.compile_dir(REPO / "src", quiet=1)  # PYTHONDONTWRITEBYTECODE=1 here: compile once, as pip does
    return Tree("this tree", REPO / "src")


def revision(rev: str, workdir: Path) -> Tree:
    """envkit's src/, profiles/ and patches/ at `rev`, extracted under `workdir`, compiled."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    dest = workdir / sha
    archive = dest.with_suffix(".tar")
    with open(archive, "wb") as out:
        subprocess.run(["git", "archive", "--format=tar", rev, "src", "profiles", "patches"], cwd=REPO, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    compileall.compile_dir(dest / "src", quiet=1)
    return Tree(f"at {rev} ({sha})" if rev != sha else f"at {sha}", dest / "src")


def temp_workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="envkit-bench-")


@dataclass
class Timing:
    label: str
    argv: list[str]
    env: dict[str, str] | None = None
    ms: list[float] = field(default_factory=list)  # wall clock
    cpu_ms: list[float] = field(default_factory=list)  # user + system CPU of the process: less swayed by load

    @property
    def median(self) -> float:
        return statistics.median(self.ms)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_ms)


def interleaved(timings: Sequence[Timing], runs: int) -> None:
    """Run each command once per round, `runs` rounds, after one untimed warm-up round."""
    for warm in (True, *([False] * runs)):
        for t in timings:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run(t.argv, env=t.env, capture_output=True, text=True)
            elapsed = (time.perf_counter() - start) * 1000
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
            if proc.returncode not in (0, 1):  # 1: a check that found something, still a full run
                sys.exit(f"{t.label}: exit {proc.returncode}: {proc.stderr.strip()[-400:]}")
            if not warm:
                t.ms.append(elapsed)
                t.cpu_ms.append(cpu)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def table(timings: Sequence[Timing], baseline: Timing | None = None) -> str:
    """Wall median/min/max and CPU median per command; with a baseline, each one's excess over it."""
    width = max(len(t.label) for t in timings) + 2
    head = f"{'':{width}}{'wall median':>12}{'min':>8}{'max':>8}{'CPU median':>12}"
    if baseline is not None:
        head += f"   {'minus ' + baseline.label + ': wall / CPU':>44}"
    rows = [head + "   (ms)"]
    for t in timings:
        row = f"{t.label:{width}}{t.median:12.1f}{min(t.ms):8.1f}{max(t.ms):8.1f}{t.cpu_median:12.1f}"
        if baseline is not None and t is not baseline:
            row += f"   {t.median - baseline.median:35.1f} / {t.cpu_median - baseline.cpu_median:5.1f}"
        rows.append(row)
    return "\n".join(rows)


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)$")
GROUPS = ("typer", "click", "rich", "packaging", "tomlkit", "tomllib")


def _group(module: str) -> str:
    top = module.split(".")[0]
    if top == "envkit":
        return ".".join(module.split(".")[:2])  # per module: their owners differ
    if top in GROUPS:
        return top
    if top.startswith("pydantic") or top in ("annotated_types", "typing_inspection", "typing_extensions"):
        return "pydantic (typer's option parsing)"
    if module.startswith("importlib.metadata"):
        return "importlib.metadata"
    return "stdlib, other"


def import_breakdown(argv: list[str], env: dict[str, str] | None, runs: int) -> dict[str, float]:
    """Median self time (ms) of the modules a command imports, grouped by package (python -X importtime).

    Modules loaded with importlib.import_module (cli.py's command modules) are not logged by
    -X importtime; what they import at top level is.
    """
    per_run: list[dict[str, float]] = []
    for _ in range(runs):
        proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, capture_output=True, text=True)
        sums: dict[str, float] = defaultdict(float)
        for line in proc.stderr.splitlines():
            m = _IMPORT_LINE.match(line)
            if m:
                sums[_group(m.group(3))] += int(m.group(1)) / 1000
        per_run.append(sums)
    names = {name for sums in per_run for name in sums}
    return {name: statistics.median(sums.get(name, 0.0) for sums in per_run) for name in names}


_PHASE_PROBE = """
import contextlib, io, json, os, sys, time
start = time.perf_counter()
import envkit.cli
imported = time.perf_counter()
profiler = None
if os.environ.get("ENVKIT_BENCH_PROFILE"):
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
with contextlib.redirect_stdout(io.StringIO()):
    envkit.cli.main(sys.argv[1:])
done = time.perf_counter()
cumulative = {}
if profiler is not None:
    import pstats
    profiler.disable()
    for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in pstats.Stats(profiler).stats.items():
        key = filename.replace(os.sep, "/").split("/envkit/")[-1] + ":" + function
        cumulative[key] = max(cumulative.get(key, 0.0), ct)
print(json.dumps({"import": imported - start, "main": done - imported, "cumulative": cumulative}))
"""


def phases(tree_argv: list[str], env: dict[str, str] | None, functions: dict[str, str], runs: int) -> dict[str, float]:
    """Milliseconds (medians of `runs`) of `import envkit.cli` (typer, the root group), of
    `envkit.cli.main` after it, and of each of `functions` (label -> "module path:function",
    e.g. "compat.py:matrix") within main: its share of main under cProfile times main's
    unprofiled median. A function's time includes the imports it triggers."""
    import json

    argv = [tree_argv[0], "-c", _PHASE_PROBE, *tree_argv[3:]]  # tree_argv is [python, -c, code, args...]

    def probe(profile: bool) -> dict:
        extra = {"ENVKIT_BENCH_PROFILE": "1"} if profile else {}
        proc = subprocess.run(argv, env={**(env or os.environ), **extra}, capture_output=True, text=True, check=True)
        return json.loads(proc.stdout.strip().splitlines()[-1])

    plain = [probe(False) for _ in range(runs)]
    profiled = [probe(True) for _ in range(runs)]
    main_ms = statistics.median(p["main"] for p in plain) * 1000
    out = {"import envkit.cli": statistics.median(p["import"] for p in plain) * 1000, "envkit.cli.main": main_ms}
    for label, key in functions.items():
        if all(key not in p["cumulative"] for p in profiled):
            continue  # not called in this tree (renamed, or that step is gone)
        shares = [p["cumulative"].get(key, 0.0) / p["cumulative"]["cli.py:main"] for p in profiled]
        out[label] = statistics.median(shares) * main_ms
    return out


def instructions(argv: list[str], env: dict[str, str] | None) -> int | None:
    """User-space instructions the command executes (valgrind's callgrind; None without valgrind).

    Unlike wall or CPU time this count does not move with the machine's load, so before/after
    figures from a busy shared machine stay comparable; it runs the command ~50x slower."""
    import shutil

    if shutil.which("valgrind") is None:
        return None
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                          env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    return int(found.group(1)) if found else None
