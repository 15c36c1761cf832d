"""Glue for `envkit matrix check`: pick the index, read what the checks need, judge."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping

from envkit.compat import Matrix
from envkit.matrixcheck.check import Observed, Report, evaluate, project, wanted
from envkit.matrixcheck.facts import dt_needed, ffmpeg_lib_to_read
from envkit.pypi_index import IndexClient, IndexFile, parallel, redact_url
from envkit.pipconfig import read_pip_config


def choose_index(option: str | None, matrix: Matrix, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(index URL, where it came from): --index-url, else pip's index-url (files and PIP_INDEX_URL,
    as envkit passes them to uv), else UV_DEFAULT_INDEX / UV_INDEX_URL, else the matrix's PyPI.
    Extra indexes and find-links are not consulted: they hold local copies, not releases."""
    env = os.environ if environ is None else environ
    if option:
        return option, "--index-url"
    pip = read_pip_config(env)
    if pip.index_url:
        return pip.index_url, "pip configuration (" + (", ".join(pip.files) or "PIP_INDEX_URL") + ")"
    for var in ("UV_DEFAULT_INDEX", "UV_INDEX_URL"):
        if env.get(var):
            return env[var], var
    return matrix.index_url("pypi"), "the matrix's [indexes] pypi (no index-url configured)"


def _deep_read(client: IndexClient, f: IndexFile, elf: bool) -> tuple[list[str], tuple[str, list[str]] | None]:
    """A wheel's file list, and with `elf` its newest FFmpeg library's DT_NEEDED entries."""
    if not elf:
        return client.namelist(f), None
    names, member, data = client.namelist_and_member(f, ffmpeg_lib_to_read)
    return names, ((member, dt_needed(data)) if member else None)


def pip_cert(environ: Mapping[str, str] | None = None) -> str | None:
    """pip's `cert` (PIP_CERT or a config file): the CA bundle the index's TLS is checked with."""
    return read_pip_config(environ).cert


def check(matrix: Matrix, client: IndexClient, packages: Iterable[str], *, deep: bool = False,
          since: dt.date | None = None) -> Report:
    packages = list(packages)
    pages = parallel(lambda p: client.files(project(p)), packages)
    files: dict[str, list[IndexFile]] = dict(zip(packages, pages))
    reads = wanted(matrix, files, packages, deep=deep, since=since)
    by_name = {f.filename: f for fs in files.values() for f in fs}
    meta_names = sorted(reads.metadata)
    list_names = sorted(reads.namelists)
    texts = parallel(lambda n: client.metadata(by_name[n]), meta_names)
    lists = parallel(lambda n: _deep_read(client, by_name[n], n in reads.elf), list_names)
    obs = Observed(files, dict(zip(meta_names, texts)), {n: names for n, (names, _) in zip(list_names, lists)},
                   {n: needed for n, (_, needed) in zip(list_names, lists) if needed is not None})
    report = evaluate(matrix, obs, packages, index=redact_url(client.url), deep=deep, since=since)
    report.reads["bytes"] = client.bytes_read
    report.reads["wheel_bytes"] = sum(by_name[n].size or 0 for n in set(meta_names) | set(list_names))
    return report
