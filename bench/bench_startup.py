"""Start-up speed of the hot paths against issue #27's targets, beside the baselines they are judged by.

Rows: `python -c pass`, `import typer` and `import tomlkit` (the floors), `envkit --help`
(target <= 150 ms), the setup stand-in (target <= 300 ms) and `envkit pins --check` on the
kuavo lerobot fork in tests/data (target: <= 100 ms over `import tomlkit`).

The setup row is `envkit setup --profile cpu --dry-run` (host file given, CPU index closed), NOT
the no-op re-run on a set-up prefix: a real prefix needs torch and lerobot installed, which this
offline bench cannot build. The dry-run does the re-run's start-up work (imports, profile,
resolve, plan) but not its state read and per-step on-disk verification (bench_setup.py times
that on a real prefix).

Medians of interleaved runs after one warm-up round (see cli_timing.py); `--against REV` adds
envkit as it was at a git revision in the same rounds, so before/after share the machine's load.
    .venv/bin/python bench/bench_startup.py [--runs N] [--against main]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_timing import REPO, Timing, instructions, interleaved, load, revision, temp_workdir, working_tree  # noqa: E402

KUAVO = str(REPO / "tests" / "data" / "pins" / "kuavo")
HOST_CPU = str(REPO / "docs" / "examples" / "host-cpu.json")
HOST_5090 = str(REPO / "docs" / "examples" / "host-5090.json")
# (label, argv, target in ms, what the target is measured over)
COMMANDS = (
    ("envkit --help", ("--help",), 150.0, None),
    ("envkit setup --dry-run (cpu)", ("setup", "--profile", "cpu", "--dry-run", "--prefix", "/nonexistent/envkit-bench",
                                      "--host", HOST_CPU, "--cpu-index", "http://127.0.0.1:9/whl/cpu"), 300.0, None),
    ("envkit pins --check (kuavo)", ("pins", "--profile", "5090", "--host", HOST_5090, "--lerobot", KUAVO, "--check"), 100.0, "tomlkit"),
)
HEAVY = ("pydantic", "rich", "tomlkit", "torch", "pynvml", "rattler", "conda_lock")


def heavy_after(tree_src: Path, argv: tuple[str, ...]) -> str:
    import subprocess

    probe = ("import sys, contextlib, io\nfrom envkit.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n    main(sys.argv[1:])\n"
             f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                          env={"PYTHONPATH": str(tree_src), "PATH": "/usr/bin:/bin"})
    return proc.stdout.strip() or "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed rounds (>= 7), after one warm-up round")
    parser.add_argument("--against", action="append", default=[], metavar="REV", help="also time envkit at this git revision")
    parser.add_argument("--instructions", action="store_true",
                        help="also count each command's instructions (valgrind): a figure the machine's load does not move")
    args = parser.parse_args()
    if args.runs < 7:
        parser.error("--runs: at least 7")

    floors = {
        "pass": Timing("python -c pass", [sys.executable, "-c", "pass"]),
        "typer": Timing("python -c 'import typer'", [sys.executable, "-c", "import typer"]),
        "tomlkit": Timing("python -c 'import tomlkit'", [sys.executable, "-c", "import tomlkit"]),
    }
    with temp_workdir() as work:
        trees = [working_tree(), *(revision(rev, Path(work)) for rev in args.against)]
        grid = {label: [Timing(f"{label}, {tree.label}", tree.argv(*argv), tree.env()) for tree in trees]
                for label, argv, _target, _over in COMMANDS}
        before = load()
        interleaved([*floors.values(), *(t for row in grid.values() for t in row)], args.runs)
        after = load()
        heavy = {tree.label: {label: heavy_after(tree.src, argv) for label, argv, _t, _o in COMMANDS} for tree in trees}
        counted = {}
        if args.instructions:
            counted = {t.label: instructions(t.argv, t.env) for t in [*floors.values(), *(t for row in grid.values() for t in row)]}

    print(f"wall-clock medians of {args.runs} interleaved runs after one warm-up, ms (CPU ms after /); "
          f"{before} before, {after} after")
    width = max(len(label) for label in [*grid, *(t.label for t in floors.values())]) + 2
    cols = [tree.label for tree in trees]
    print(f"{'':{width}}" + "".join(f"{c:>26}" for c in cols) + f"{'target':>28}   met ({cols[0]})")
    for t in floors.values():
        print(f"{t.label:{width}}{f'{t.median:.1f} / {t.cpu_median:.1f}':>26}" + " " * 26 * (len(trees) - 1))
    for label, _argv, target, over in COMMANDS:
        row = grid[label]
        if over is None:
            cells = [f"{t.median:.1f} / {t.cpu_median:.1f}" for t in row]
            goal, met = f"<= {target:.0f}", row[0].median <= target
        else:
            base = floors[over].median
            cells = [f"{t.median:.1f} (+{t.median - base:.1f})" for t in row]
            goal, met = f"<= {target:.0f} over import {over}", row[0].median - base <= target
        print(f"{label:{width}}" + "".join(f"{c:>26}" for c in cells) + f"{goal:>28}   {'yes' if met else 'NO'}")
    print("the setup row is the dry-run stand-in for the no-op re-run (see this file's docstring)")
    if counted:
        print("instructions executed (millions; valgrind --tool=callgrind, independent of load):")
        for label, count in counted.items():
            print(f"  {label:{width + 28}}{count / 1e6 if count else float('nan'):10.1f}")
    for tree_label, by_command in heavy.items():
        print(f"heavy modules imported ({tree_label}):")
        for label, modules in by_command.items():
            print(f"  {label:{width}}{modules}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
