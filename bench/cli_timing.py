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
    ms: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.ms)


def interleaved(timings: Sequence[Timing], runs: int) -> None:
    """Run each command once per round, `runs` rounds, after one untimed warm-up round."""
    for warm in (True, *([False] * runs)):
        for t in timings:
            start = time.perf_counter()
            proc = subprocess.run(t.argv, env=t.env, capture_output=True, text=True)
            elapsed = (time.perf_counter() - start) * 1000
            if proc.returncode not in (0, 1):  # 1: a check that found something, still a full run
                sys.exit(f"{t.label}: exit {proc.returncode}: {proc.stderr.strip()[-400:]}")
            if not warm:
                t.ms.append(elapsed)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def table(timings: Sequence[Timing], baseline: Timing | None = None) -> str:
    width = max(len(t.label) for t in timings) + 2
    head = f"{'':{width}}{'median ms':>10}{'min ms':>9}{'max ms':>9}" + (f"{'- ' + baseline.label:>30}" if baseline else "")
    rows = [head]
    for t in timings:
        row = f"{t.label:{width}}{t.median:10.1f}{min(t.ms):9.1f}{max(t.ms):9.1f}"
        if baseline is not None and t is not baseline:
            row += f"{t.median - baseline.median:30.1f}"
        rows.append(row)
    return "\n".join(rows)


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)$")
GROUPS = ("typer", "click", "rich", "packaging", "tomlkit", "tomllib")


def _group(module: str) -> str:
    top = module.split(".")[0]
    if top == "envkit":
        return "envkit"
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
