"""Read the user's pip configuration and express its package sources as uv arguments.

uv does not read pip.conf, so an env built with uv on a machine whose pip points at a
mirror, a local wheel directory or a constraints file would silently ignore them. We
read the same files and variables pip reads, in pip's precedence order, and translate
the options that decide *where packages come from*.
"""

from __future__ import annotations

import configparser
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# pip option name -> our field; the options that change where packages come from.
_LIST_KEYS = {
    "extra-index-url": "extra_index_urls",
    "find-links": "find_links",
    "trusted-host": "trusted_hosts",
    "constraint": "constraints",
}
_SCALAR_KEYS = {"index-url": "index_url", "cert": "cert", "no-index": "no_index"}
# pip reads [global] for every command, then the command's own section on top.
_SECTIONS = ("global", "install")


@dataclass(frozen=True)
class PipSources:
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    no_index: bool = False
    cert: str | None = None
    files: tuple[str, ...] = field(default=(), compare=False)  # the config files read, for messages

    def uv_args(self) -> list[str]:
        """Arguments for `uv pip install` (and `uv pip compile`) that reproduce pip's sources."""
        args: list[str] = []
        if self.no_index:
            args.append("--no-index")
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for link in self.usable_find_links():
            args += ["--find-links", link]
        for host in self.trusted_hosts:
            args += ["--allow-insecure-host", host]
        for constraint in self.constraints:
            args += ["--constraint", constraint]
        if self.extra_index_urls or self.usable_find_links():
            # pip merges every index and picks the best version; uv's default stops at the
            # first index that has the name, which would hide a mirror's newer wheels.
            args += ["--index-strategy", "unsafe-best-match"]
        return args

    def usable_find_links(self) -> tuple[str, ...]:
        """pip skips a find-links directory that does not exist (with a warning); uv would fail on it."""
        return tuple(link for link in self.find_links if not _missing_dir(link))

    def warnings(self) -> list[str]:
        return [f"pip's find-links {link} (from {', '.join(self.files) or 'PIP_FIND_LINKS'}) does not exist: skipped, as pip does"
                for link in self.find_links if _missing_dir(link)]

    def uv_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for uv: the trust pip has. pip's `cert` (or requests' REQUESTS_CA_BUNDLE, which pip
        honours) becomes uv's SSL_CERT_FILE; and uv reads the system's trust store (UV_SYSTEM_CERTS), as pip does
        through truststore, so a lab's TLS-intercepting proxy whose CA the system trusts works for both."""
        env = os.environ if environ is None else environ
        out: dict[str, str] = {}
        bundle = self.cert or (env.get("REQUESTS_CA_BUNDLE") if not env.get("SSL_CERT_FILE") else None)
        if bundle:
            out["SSL_CERT_FILE"] = bundle
        if "UV_NATIVE_TLS" not in env and "UV_SYSTEM_CERTS" not in env:
            # uv >= 0.13 reads UV_SYSTEM_CERTS (--system-certs); older releases UV_NATIVE_TLS (--native-tls).
            out["UV_SYSTEM_CERTS"] = "1"
            out["UV_NATIVE_TLS"] = "1"
        return out


def _missing_dir(link: str) -> bool:
    """A find-links entry that names a local path (or file: URL) which does not exist."""
    if "://" in link and not link.startswith("file://"):
        return False
    path = link[len("file://"):] if link.startswith("file://") else link
    return not Path(path).expanduser().exists()


def config_files(environ: Mapping[str, str] | None = None, home: Path | None = None) -> list[Path]:
    """pip's config files, lowest precedence first (global, user, site, PIP_CONFIG_FILE)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME", str(Path.home()))) if home is None else home
    explicit = env.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:  # pip's documented way to switch config files off
        return []
    xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs.split(":") if d]
    files.append(Path("/etc/pip.conf"))
    files.append(home / ".pip" / "pip.conf")
    xdg_home = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    files.append(Path(xdg_home) / "pip" / "pip.conf")
    if env.get("VIRTUAL_ENV"):
        files.append(Path(env["VIRTUAL_ENV"]) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return files


def _split(value: str) -> list[str]:
    # pip splits list options on whitespace (newlines in files, spaces in env vars).
    return [part for part in shlex.split(value, comments=False) if part] if value else []


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def read_pip_config(environ: Mapping[str, str] | None = None, home: Path | None = None) -> PipSources:
    """Merge pip's files and PIP_* variables (later wins per key, like pip)."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    read: list[str] = []
    for path in config_files(env, home):
        if not path.is_file():
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError, OSError):
            continue  # pip would complain; we only borrow sources, so skip unreadable files
        read.append(str(path))
        for section in _SECTIONS:
            if parser.has_section(section):
                for key, value in parser.items(section):
                    values[key.replace("_", "-")] = value
    for key in (*_LIST_KEYS, *_SCALAR_KEYS):
        var = "PIP_" + key.upper().replace("-", "_")
        if var in env:
            values[key] = env[var]
    lists = {name: tuple(_split(values.get(key, ""))) for key, name in _LIST_KEYS.items()}
    return PipSources(
        index_url=values.get("index-url") or None,
        extra_index_urls=lists["extra_index_urls"],
        find_links=lists["find_links"],
        trusted_hosts=lists["trusted_hosts"],
        constraints=lists["constraints"],
        no_index=_truthy(values.get("no-index", "")),
        cert=values.get("cert") or None,
        files=tuple(read),
    )
