"""Live `envkit matrix check` against the configured index (PyPI here): what is new since the
matrix was written, and the time, beside what downloading the wheels it reads would cost.

Target: under 20 s for all packages without --deep. Needs the network (not part of `make test`).
Usage:
    .venv/bin/python bench/bench_matrix.py [--deep] [--index-url URL]
"""

from __future__ import annotations

import argparse
import sys
import time

TARGET_S = 20.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deep", action="store_true", help="also read wheel file lists")
    parser.add_argument("--index-url", default=None)
    args = parser.parse_args()

    from envkit.compat import matrix
    from envkit.errors import EnvkitError
    from envkit.matrixcheck.check import PACKAGES
    from envkit.pypi_index import IndexClient
    from envkit.matrixcheck.run import check, choose_index, pip_cert

    m = matrix()
    url, origin = choose_index(args.index_url, m)
    start = time.perf_counter()
    try:
        with IndexClient(url, cert=pip_cert()) as client:
            report = check(m, client, PACKAGES, deep=args.deep)
    except EnvkitError as exc:
        print(f"bench_matrix: {exc.paragraph()}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start

    print(f"index {report.index} ({origin}); matrix collected {m.raw.get('collected')}; deep={args.deep}")
    print(f"{'package':12}{'matrix':>10}{'index':>10}  uploaded")
    for pkg in report.packages:
        n = report.newest[pkg]
        print(f"{pkg:12}{n['matrix'] or '-':>10}{n['index'] or '-':>10}  {(n['uploaded'] or '')[:10]}")
    collected = str(m.raw.get("collected", ""))
    since = [f"{p} {n['index']}" for p, n in report.newest.items() if (n["uploaded"] or "")[:10] >= collected]
    print(f"newest releases uploaded since the matrix was collected ({collected}): {', '.join(since) or 'none'}")
    for kind in ("new", "contradicted", "absent"):
        for f in report.of(kind):
            print(f"{kind}: {f.message}")
    print(f"unverified rows: {len(report.of('unverified'))}; verdict: {'fresh' if report.fresh else 'stale'}")
    r = report.reads
    mb = r.get("bytes", 0) / 1e6
    gb = r.get("wheel_bytes", 0) / 1e9
    print(f"{'':34}{'seconds':>10}{'bytes':>14}")
    print(f"{'matrix check (range reads)':34}{seconds:10.1f}{mb:11.1f} MB")
    print(f"{'downloading those wheels instead':34}{'-':>10}{gb:11.1f} GB")
    print(f"read {r.get('metadata', 0)} METADATA files, {r.get('file_lists', 0)} file lists; "
          f"target {TARGET_S:.0f} s without --deep: {'met' if seconds < TARGET_S or args.deep else 'MISSED'}")
    return 0 if seconds < TARGET_S or args.deep else 1


if __name__ == "__main__":
    sys.exit(main())
