"""Wall time of `envkit pins --check` on lerobot 0.4.4 beside `python -c "import tomlkit"`.

Target: envkit's own work (the difference of the medians) under 100 ms. `--against REV` adds
envkit as it was at a git revision, timed in the same interleaved rounds (before/after on the
same load); `--breakdown` says where the time goes (imports by package, from -X importtime).
`--instructions` counts instructions with valgrind, which a loaded machine does not sway. Usage:
    .venv/bin/python bench/bench_pins.py [--runs N] [--profile 5090] [--host FILE] [--against REV] [--breakdown] [--instructions]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_timing import (  # noqa: E402
    REPO, Timing, Tree, import_breakdown, instructions, interleaved, load, phases, revision, table, temp_workdir,
    working_tree,
)

TARGET_MS = 100.0


# What `pins --check` does after parsing its options (module path: function, as cProfile names them).
STEPS = {
    "typer: parse options, call the command": "cli.py:main",
    "  envkit pins (commands/pins.py)": "commands/pins.py:_run",
    "    import envkit.profiles": "profiles.py:<module>",
    "    import envkit.resolve (compat, backends...)": "resolve.py:<module>",
    "    import envkit.hostfacts": "hostfacts.py:<module>",
    "    load the profile": "profiles.py:load_profile",
    "    read --host FILE": "hostfacts.py:load_host_file",
    "    resolve": "resolve.py:resolve",
    "      compat matrix (compat.toml)": "compat.py:matrix",
    "      read lerobot's pyproject (source.py)": "source.py:read_project",
    "      plan the pins (pins.py)": "pins.py:plan_pyproject",
}


def print_instructions(counts: dict[str, int | None], python: Timing, baseline: Timing, runs: list[Timing]) -> None:
    """Instruction counts, and envkit's own work in ms estimated from them: the ms per instruction
    of `import tomlkit` (its fastest run minus python -c pass's fastest, over their instruction
    difference), the fastest runs being the least disturbed by other load."""
    if None in counts.values():
        print("instructions: valgrind is not installed (apt-get install valgrind)")
        return
    got = {label: n for label, n in counts.items() if n is not None}
    per_m = (min(baseline.ms) - min(python.ms)) / ((got[baseline.label] - got[python.label]) / 1e6)
    print("\ninstructions executed (valgrind callgrind; the same on a busy or an idle machine):")
    for label, n in got.items():
        print(f"  {label:44}{n / 1e6:9.0f} M")
    for r in runs:
        own = (got[r.label] - got[baseline.label]) / 1e6
        print(f"envkit's own work, {r.label.split(', ', 1)[1]}: {own:.0f} M instructions, ~{own * per_m:.0f} ms "
              f"at import tomlkit's {per_m * 1000:.0f} us per M instructions (target {TARGET_MS:.0f} ms)")


def breakdown(tree: Tree, check: tuple[str, ...], python_ms: float, runs: int) -> None:
    imports = import_breakdown(tree.argv(*check), tree.env(), runs)
    bare = import_breakdown([sys.executable, "-c", "pass"], None, runs)  # site, encodings...: python -c pass has them too
    imports = {name: ms - bare.get(name, 0.0) for name, ms in imports.items()}
    steps = phases(tree.argv(*check), tree.env(), STEPS, runs)
    print(f"\nwhere the time goes ({tree.label}, medians of {runs} runs):")
    print(f"  {'interpreter start (python -c pass)':46}{python_ms:8.1f} ms")
    print(f"  {'import envkit.cli (typer, the root group)':46}{steps['import envkit.cli']:8.1f} ms")
    print(f"  {'envkit.cli.main(...)':46}{steps['envkit.cli.main']:8.1f} ms, of which (cProfile shares, imports included):")
    for label in STEPS:
        print(f"    {label:44}" + (f"{steps[label]:8.1f} ms" if label in steps else "     not called"))
    print("  imports beyond python -c pass's, by package, wherever imported (python -X importtime self times):")
    for name, ms in sorted(imports.items(), key=lambda kv: -kv[1]):
        if ms >= 0.5:
            print(f"    {name:44}{ms:8.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", default="5090")
    parser.add_argument("--host", default=str(REPO / "docs" / "examples" / "host-5090.json"))
    parser.add_argument("--against", action="append", default=[], metavar="REV", help="also time envkit at this git revision")
    parser.add_argument("--breakdown", action="store_true", help="imports by package, for this tree's run")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions (valgrind): figures a loaded machine does not sway")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from tests.lerobot_sdists import fetch  # the same cached sdist the tests use

    pyproject = fetch("0.4.4")
    check = ("pins", "--profile", args.profile, "--host", args.host, "--lerobot", str(pyproject), "--check")
    python = Timing("python -c pass", [sys.executable, "-c", "pass"])
    baseline = Timing("python -c 'import tomlkit'", [sys.executable, "-c", "import tomlkit"])
    with temp_workdir() as work:
        trees = [working_tree(), *(revision(rev, Path(work)) for rev in args.against)]
        runs = [Timing(f"envkit pins --check, {tree.label}", tree.argv(*check), tree.env()) for tree in trees]
        load_before = load()
        interleaved([python, baseline, *runs], args.runs)
        load_after = load()
        counts = {t.label: instructions(t.argv, t.env) for t in (python, baseline, *runs)} if args.instructions else None

    print(f"envkit pins --check --profile {args.profile} on lerobot 0.4.4's pyproject.toml; "
          f"{args.runs} interleaved runs each (median); {load_before} before, {load_after} after")
    print(table([python, baseline, *runs], baseline))
    for t in runs:
        own, cpu = t.median - baseline.median, t.cpu_median - baseline.cpu_median
        verdict = "within" if own < TARGET_MS else "OVER"
        print(f"envkit's own work, {t.label.split(', ', 1)[1]}: {own:.1f} ms wall ({verdict} the {TARGET_MS:.0f} ms target), "
              f"{cpu:.1f} ms CPU")
    if counts is not None:
        print_instructions(counts, python, baseline, runs)
    if args.breakdown:
        breakdown(trees[0], check, python.median, max(5, args.runs // 3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
