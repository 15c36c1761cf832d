"""Wall time of `envkit pins --check` on lerobot 0.4.4 beside `python -c "import tomlkit"`.

Target: envkit's own work (the difference of the medians) under 100 ms. `--against REV` adds
envkit as it was at a git revision, timed in the same interleaved rounds (before/after on the
same load); `--breakdown` says where the time goes (imports by package, from -X importtime).
Usage:
    .venv/bin/python bench/bench_pins.py [--runs N] [--profile 5090] [--host FILE] [--against REV] [--breakdown]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_timing import REPO, Timing, import_breakdown, interleaved, load, revision, table, temp_workdir, working_tree  # noqa: E402

TARGET_MS = 100.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", default="5090")
    parser.add_argument("--host", default=str(REPO / "docs" / "examples" / "host-5090.json"))
    parser.add_argument("--against", action="append", default=[], metavar="REV", help="also time envkit at this git revision")
    parser.add_argument("--breakdown", action="store_true", help="imports by package, for this tree's run")
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

    print(f"envkit pins --check --profile {args.profile} on lerobot 0.4.4's pyproject.toml; "
          f"{args.runs} interleaved runs each (median); {load_before} before, {load_after} after")
    print(table([python, baseline, *runs], baseline))
    for t in runs:
        own = t.median - baseline.median
        verdict = "within" if own < TARGET_MS else "OVER"
        print(f"envkit's own work, {t.label.split(', ', 1)[1]}: {own:.1f} ms ({verdict} the {TARGET_MS:.0f} ms target)")
    if args.breakdown:
        tree = trees[0]
        imports = import_breakdown(tree.argv(*check), tree.env(), max(5, args.runs // 3))
        total = runs[0].median
        print(f"\nwhere the time goes ({tree.label}; import self times, median of python -X importtime runs):")
        for name, ms in sorted(imports.items(), key=lambda kv: -kv[1]):
            print(f"  {name:36}{ms:8.1f} ms")
        rest = total - python.median - sum(imports.values())
        print(f"  {'interpreter start (python -c pass)':36}{python.median:8.1f} ms")
        print(f"  {'the rest: parsing, resolve, planning':36}{rest:8.1f} ms  (of {total:.1f} ms in all; "
              "-X importtime inflates imports a little)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
