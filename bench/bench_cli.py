"""Start-up cost of the CLI: short envkit commands beside `python -c pass` and `python -c "import tomlkit"`.

Heavy imports (torch, NVML, rattler, conda_lock; pydantic through typer's option parsing) must
stay out of these. `--against REV` adds a column for envkit as it was at a git revision, timed
in the same interleaved rounds, so before/after share the machine's load. Usage:
    .venv/bin/python bench/bench_cli.py [--runs N] [--against REV]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_timing import REPO, Timing, interleaved, load, revision, temp_workdir, working_tree  # noqa: E402

HOST = str(REPO / "docs" / "examples" / "host-5090.json")
COMMANDS = {
    "envkit --help": ("--help",),
    "envkit detect --json": ("detect", "--json"),
    "envkit resolve --profile cpu --json": ("resolve", "--profile", "cpu", "--json"),
    "envkit pins --check (5090, 0.4.4)": ("pins", "--profile", "5090", "--host", HOST, "--lerobot", "{pyproject}", "--check"),
}
HEAVY = ("torch", "pynvml", "rattler", "conda_lock", "tomlkit", "pydantic", "rich")


def heavy_modules_after(src: Path, *args: str) -> list[str]:
    probe = ("import sys, contextlib, io\nfrom envkit.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n    main(sys.argv[1:])\n"
             f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env).stdout.split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--against", action="append", default=[], metavar="REV", help="also time envkit at this git revision")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from tests.lerobot_sdists import fetch  # the same cached sdist the pins tests use

    pyproject = str(fetch("0.4.4"))
    python = Timing("python -c pass", [sys.executable, "-c", "pass"])
    tomlkit = Timing("python -c 'import tomlkit'", [sys.executable, "-c", "import tomlkit"])
    with temp_workdir() as work:
        trees = [working_tree(), *(revision(rev, Path(work)) for rev in args.against)]
        grid = {name: [Timing(f"{name}, {tree.label}", tree.argv(*(a.format(pyproject=pyproject) for a in argv)), tree.env())
                       for tree in trees] for name, argv in COMMANDS.items()}
        load_before = load()
        interleaved([python, tomlkit, *(t for row in grid.values() for t in row)], args.runs)
        load_after = load()
        heavy = {tree.label: {name: heavy_modules_after(tree.src, *(a.format(pyproject=pyproject) for a in argv))
                              for name, argv in COMMANDS.items()} for tree in trees}

    print(f"medians of {args.runs} interleaved runs, wall ms / CPU ms (user + system, less swayed by load); "
          f"{load_before} before, {load_after} after")
    labels = [tree.label for tree in trees]
    width = max(len(n) for n in [*COMMANDS, python.label, tomlkit.label]) + 2

    def cell(t: Timing) -> str:
        return f"{t.median:8.1f} / {t.cpu_median:5.1f}"

    print(f"{'':{width}}" + "".join(f"{label:>24}" for label in labels) + f"{'wall vs python -c pass':>25}")
    for timing in (python, tomlkit):
        print(f"{timing.label:{width}}{cell(timing):>24}" + " " * 24 * (len(trees) - 1) + f"{timing.median / python.median:24.1f}x")
    for name, row in grid.items():
        print(f"{name:{width}}" + "".join(f"{cell(t):>24}" for t in row) + f"{row[0].median / python.median:24.1f}x")
    pins = grid["envkit pins --check (5090, 0.4.4)"]
    print("envkit's own work in pins --check (its median minus python -c 'import tomlkit'; target < 100 ms wall):")
    for t, label in zip(pins, labels):
        print(f"  {label}: {t.median - tomlkit.median:.1f} ms wall, {t.cpu_median - tomlkit.cpu_median:.1f} ms CPU")
    for label, by_command in heavy.items():
        print(f"heavy modules imported ({label}):")
        for name, modules in by_command.items():
            print(f"  {name:{width}}{' '.join(modules) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
