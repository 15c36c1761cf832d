"""`envkit matrix check [--package NAME] [--since DATE] [--deep] [--json]` and
`envkit matrix propose NAME==VERSION [--json]`: keep compat.toml in step with the index."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import typer

from envkit.errors import EnvkitError

if TYPE_CHECKING:
    from envkit.matrixcheck.check import Report

# = envkit.matrixcheck.check.PACKAGES, spelled here so `envkit --help` imports no HTTP stack.
PACKAGES = ("torch", "torchvision", "torchcodec", "torch_npu", "lerobot", "av")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Check the compatibility matrix against the index; draft new rows.", no_args_is_help=True)
    app.add_typer(sub, name="matrix")

    @sub.command("check")
    def check_cmd(
        package: list[str] = typer.Option(None, "--package", help=f"Only this package (repeatable): {', '.join(PACKAGES)}."),
        since: str = typer.Option(None, "--since", help="Only releases uploaded on or after DATE (YYYY-MM-DD)."),
        deep: bool = typer.Option(False, "--deep", help="Also read wheel file lists (torchcodec FFmpeg majors, PyAV's avutil) and one torchcodec FFmpeg library per release (CUDA linkage, FFmpeg sonames): a few MB."),
        index_url: str = typer.Option(None, "--index-url", help="Simple API index to read (default: pip's index-url, else PyPI from the matrix)."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Exit 0 when the matrix is fresh, 1 when a release is newer than it or metadata contradicts a row, 2 when the index is unreachable."""
        from envkit.compat import matrix
        from envkit.matrixcheck.index import IndexClient
        from envkit.matrixcheck.run import check, choose_index, pip_cert

        packages = _packages(package)
        since_date = _date(since)
        m = matrix()
        url, origin = choose_index(index_url, m)
        with IndexClient(url, cert=pip_cert()) as client:
            report = check(m, client, packages, deep=deep, since=since_date)
        if as_json:
            from envkit.commands.common import emit_json

            emit_json({**report.to_json(), "index_from": origin})
        else:
            _print(report, origin)
        if report.exit_code:
            raise SystemExit(report.exit_code)

    @sub.command("propose")
    def propose_cmd(
        spec: str = typer.Argument(..., metavar="NAME==VERSION", help="e.g. torch==2.16.0"),
        index_url: str = typer.Option(None, "--index-url", help="Simple API index to read (default as for check)."),
        as_json: bool = typer.Option(False, "--json", help="Print the row and its provenance as JSON."),
    ) -> None:
        """Print the compat.toml row the index supports for NAME==VERSION, each field with its source;
        fields the index cannot give are marked for a human and the row is verified = false."""
        from envkit.compat import matrix
        from envkit.matrixcheck.index import IndexClient
        from envkit.matrixcheck.propose import parse_spec, propose
        from envkit.matrixcheck.run import choose_index, pip_cert

        name, version = parse_spec(spec)
        m = matrix()
        url, _ = choose_index(index_url, m)
        with IndexClient(url, cert=pip_cert()) as client:
            row = propose(m, client, name, version)
        if as_json:
            from envkit.commands.common import emit_json

            emit_json(row.to_json())
        else:
            typer.echo(row.toml())


def _packages(given: list[str] | None) -> list[str]:
    if not given:
        return list(PACKAGES)
    out = []
    for p in given:
        key = p.strip().lower().replace("-", "_")
        if key not in PACKAGES:
            raise EnvkitError(f"--package {p!r} is not a package the matrix covers",
                              f"use one of {', '.join(PACKAGES)}")
        out.append(key)
    return out


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise EnvkitError(f"--since {text!r} is not a date", "write it as YYYY-MM-DD, e.g. --since 2026-11-01") from None


def _print(report: Report, origin: str) -> None:
    typer.echo(f"index: {report.index} (from {origin})" + (f"; releases since {report.since}" if report.since else ""))
    for pkg in report.packages:
        n = report.newest.get(pkg, {})
        stale = [f for f in report.findings if f.package == pkg and f.stale]
        up = f" (uploaded {n['uploaded'][:10]})" if n.get("uploaded") else ""
        verdict = "fresh" if not stale else f"{len(stale)} finding(s)"
        typer.echo(f"{pkg}: newest on the index {n.get('index')}{up}, newest in the matrix {n.get('matrix')}: {verdict}")
        for f in report.findings:
            if f.package == pkg and f.kind in ("new", "contradicted", "absent"):
                typer.echo(f"  {f.kind}: {f.message}")
        for f in report.findings:
            if f.package == pkg and f.kind == "note":
                typer.echo(f"  note: {f.message}")
    unverified = report.of("unverified")
    if unverified:
        typer.echo(f"rows marked unverified ({len(unverified)}; they need a primary source, they do not fail the check):")
        for f in unverified:
            typer.echo(f"  {f.message}")
    typer.echo(f"read {report.reads.get('metadata', 0)} METADATA files and {report.reads.get('file_lists', 0)} wheel file lists")
    typer.echo("the matrix is fresh" if report.fresh else
               "the matrix is stale: add or fix the rows above (envkit matrix propose NAME==VERSION drafts a row)")
