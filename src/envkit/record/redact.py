"""Keep secrets and personal paths out of a recorded scenario, and say what was left out.

What a secret looks like is envkit.secrets' one rule; a recording drops more through
`secrets.scrub` (whole URL userinfo, NAME=value under a secret name, token shapes), because it is
meant to be published in a bug report or committed to tests/data. The rest of this file is about personal paths
(user names in home directories) and the optional host name, which only a recording needs.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from envkit.secrets import MASK, is_secret_key, scrub

USER_MASK = "USER"
HOST_MASK = "HOSTNAME"

_HOME_DIR = re.compile(r"(?P<root>/(?:home|Users))/(?P<name>[^/\s\"':;,]+)")
# Login names that are not personal, and short ones that would match everywhere.
_NOT_PERSONAL = {"root", "nobody", "user", "USER", "ubuntu", "debian", "admin", "runner", "home", "opt", "usr", "data"}


def redact_text(text: str) -> tuple[str, list[str]]:
    """`text` without secrets, and one kind per thing removed ("credentials in a URL", ...)."""
    return scrub(text)


class Redactor:
    """Applies `redact_text` plus the personal-path rules to everything a recording writes,
    counting what it removed and where, so the command can print what it left out."""

    def __init__(self, *, hostname: bool = False, home: str | None = None, users: Iterable[str] | None = None) -> None:
        self.home = (home if home is not None else _home()).rstrip("/")
        names = set(users if users is not None else _users())
        self.users = sorted(n for n in names if len(n) >= 3 and n not in _NOT_PERSONAL)
        self.hostnames = _hostnames() if hostname else []
        self.removed: Counter[str] = Counter()
        self.where: dict[str, set[str]] = {}
        self.notes: list[str] = []  # things left out wholesale (not replaced in place)

    # --- the rules --------------------------------------------------------------------
    def text(self, text: str, where: str) -> str:
        out, kinds = redact_text(text)
        out = self._personal(out, kinds)
        for host in self.hostnames:
            out, n = re.subn(rf"(?<![\w.-]){re.escape(host)}(?![\w-])", HOST_MASK, out)
            kinds += ["the host name"] * n
        for kind in kinds:
            self.removed[kind] += 1
            self.where.setdefault(kind, set()).add(where)
        return out

    def _personal(self, text: str, kinds: list[str]) -> str:
        if self.home and self.home not in ("", "/root") and not self.home.startswith(("/home/", "/Users/")):
            count = text.count(self.home)
            if count:
                text = text.replace(self.home, f"/home/{USER_MASK}")
                kinds += ["a user name in a home path"] * count

        def home(m: re.Match[str]) -> str:
            if m.group("name") == USER_MASK:
                return m.group(0)
            kinds.append("a user name in a home path")
            return f"{m.group('root')}/{USER_MASK}"

        text = _HOME_DIR.sub(home, text)
        for name in self.users:
            text, n = re.subn(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", USER_MASK, text)
            kinds += ["the user name"] * n
        return text

    def data(self, value: Any, where: str) -> Any:
        """A JSON-like value with every string (and key) redacted; values of secret-named keys dropped."""
        if isinstance(value, str):
            return self.text(value, where)
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                new_key = self.text(key, where) if isinstance(key, str) else key
                if is_secret_key(key) and isinstance(item, str) and item:
                    self.removed["a secret-named value (token/key/password)"] += 1
                    self.where.setdefault("a secret-named value (token/key/password)", set()).add(where)
                    out[new_key] = MASK
                else:
                    out[new_key] = self.data(item, where)
            return out
        if isinstance(value, (list, tuple)):
            return [self.data(item, where) for item in value]
        return value

    def note(self, line: str) -> None:
        self.notes.append(line)

    # --- the account --------------------------------------------------------------------
    def left_out(self) -> list[str]:
        """Human lines, never the values: "3 x a user name in a home path (env.json, host.json)"."""
        lines = [f"{n} x {kind} ({', '.join(sorted(self.where.get(kind, ())))})" for kind, n in sorted(self.removed.items())]
        return lines + self.notes


def _home() -> str:
    try:
        return str(Path.home())
    except (RuntimeError, KeyError):
        return os.environ.get("HOME", "")


def _users() -> set[str]:
    names = {Path(_home()).name}
    try:
        names.add(getpass.getuser())
    except (KeyError, OSError):
        pass
    return {n for n in names if n}


def _hostnames() -> list[str]:
    names = {socket.gethostname()}
    try:
        names.add(socket.getfqdn())
    except OSError:
        pass
    # Longest first, so "gpu1.lab.example" goes before "gpu1".
    # Asked for explicitly, so even a short name ("vm") is replaced, as a whole word only.
    return sorted((n for n in names if n and len(n) >= 2 and n not in ("localhost", "localhost.localdomain")), key=len, reverse=True)
