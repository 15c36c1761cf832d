"""`envkit matrix check [--package NAME] [--since DATE] [--deep] [--json]` and
`envkit matrix propose NAME==VERSION [--json]`: keep compat.toml in step with the index."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from envkit.commands.common import emit_json
from envkit.compat import DATA_FILE, matrix
from envkit.errors import EnvkitError
from envkit.fsutil import atomic_write
from envkit.matrixcheck.check import packages
from envkit.matrixcheck.patch import HEADER, apply, proposals_json, unified
from envkit.matrixcheck.propose import parse_spec, propose
from envkit.matrixcheck.run import check, choose_index, pip_cert
from envkit.pypi_index import IndexClient
from envkit.resources import package_file

if TYPE_CHECKING:
    from envkit.matrixcheck.check import Report

# = envkit.matrixcheck.check.FIRST + LAST, spelled here so `envkit --help` imports no HTTP stack; each
# accelerator adds its own package (envkit.matrixcheck.check.packages()).
GENERIC = ("torch", "torchvision", "torchcodec", "lerobot", "av")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Check the compatibility matrix against the index; draft new rows.", no_args_is_help=True)
    app.add_typer(sub, name="matrix")

    @sub.command("check")
    def check_cmd(
        package: list[str] = typer.Option(None, "--package", help=f"Only this package (repeatable): {', '.join(GENERIC)} or an accelerator's own."),
        since: str = typer.Option(None, "--since", help="Only releases uploaded on or after DATE (YYYY-MM-DD)."),
        deep: bool = typer.Option(False, "--deep", help="Also read wheel file lists (torchcodec FFmpeg majors, PyAV's avutil) and one torchcodec FFmpeg library per release (CUDA linkage, FFmpeg sonames): a few MB."),
        index_url: str = typer.Option(None, "--index-url", help="Simple API index to read (default: pip's index-url, else PyPI from the matrix)."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        write_proposals: Path = typer.Option(None, "--write-proposals", metavar="FILE.patch",
                                             help="Draft a compat.toml row for each new release (envkit matrix propose) and write them as one reviewable patch."),
    ) -> None:
        """Exit 0 when the matrix is fresh, 1 when a release is newer than it or metadata contradicts a row, 2 when the index is unreachable."""
        packages = _packages(package)
        since_date = _date(since)
        if write_proposals is not None:
            _writable_patch(write_proposals)
        m = matrix()
        url, origin = choose_index(index_url, m)
        written = None
        with IndexClient(url, cert=pip_cert()) as client:
            report = check(m, client, packages, deep=deep, since=since_date)
            if write_proposals is not None:
                written = _write_proposals(write_proposals, m, client, report)
        if as_json:
            extra = {"proposals": written} if written is not None else {}
            emit_json({**report.to_json(), "index_from": origin, **extra})
        else:
            _print(report, origin)
            if written is not None:
                what = "; ".join(f"{w['package']} {w['version']}: {w['how']}" for w in written)
                typer.echo(f"wrote {write_proposals}: {what}" if written else f"wrote no {write_proposals}: no new release to propose")
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
        name, version = parse_spec(spec)
        m = matrix()
        url, _ = choose_index(index_url, m)
        with IndexClient(url, cert=pip_cert()) as client:
            row = propose(m, client, name, version)
        if as_json:
            emit_json(row.to_json())
        else:
            typer.echo(row.toml())


def _writable_patch(path: Path) -> None:
    """Refuse before any network read: an existing file must be a patch this option wrote."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise EnvkitError(f"--write-proposals {path} exists and is not a regular file", fix="name a new .patch file")
    if path.is_file():
        with path.open("rb") as fh:
            head = fh.read(len(HEADER))
        if head != HEADER.encode():
            raise EnvkitError(f"--write-proposals {path} exists and was not written by envkit; it is left as it is",
                              fix="name a new .patch file, or move that one aside")
    if not path.parent.is_dir():
        raise EnvkitError(f"--write-proposals {path}: the directory {path.parent} does not exist", fix="create it, or name another path")


def _write_proposals(path: Path, m, client, report: "Report") -> list[dict]:  # noqa: ANN001 (Matrix, IndexClient)
    """Draft each new release's row, apply them to compat.toml's text and write the diff (nothing when none)."""
    new = [f for f in report.findings if f.kind == "new" and f.index]
    if not new:
        return []
    drafted = [propose(m, client, f.package, f.index) for f in new]
    old = Path(package_file(DATA_FILE)).read_text()
    text, applied = apply(old, drafted)
    atomic_write(path, unified(old, text, applied, report.index))
    return proposals_json(applied)


def _packages(given: list[str] | None) -> list[str]:

    covered = packages()
    if not given:
        return list(covered)
    out = []
    for p in given:
        key = p.strip().lower().replace("-", "_")
        if key not in covered:
            raise EnvkitError(f"--package {p!r} is not a package the matrix covers",
                              f"use one of {', '.join(covered)}")
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
