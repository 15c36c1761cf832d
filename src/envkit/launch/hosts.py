"""`envkit launch --hosts FILE`: the nodes of a multi-node run, from a hostfile or the fleet's Ansible inventory.

A hostfile has one node per line: `[user@]host[:port] [prefix=DIR] [envkit=PATH] [key=FILE]`, `#`
comments. Anything else is read as an Ansible inventory through `ansible-inventory --list` (the
fleet role's own variables: ansible_host/port/user, ansible_ssh_private_key_file,
ansible_ssh_common_args, envkit_prefix, envkit_bin or envkit_home). The order of the file is the
order of the node ranks: the first node is rank 0 and hosts the rendezvous.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envkit.errors import EnvkitError

ROLE_PREFIX = "/opt/envkit/env"  # ansible/roles/envkit/defaults/main.yml: envkit_prefix
ROLE_HOME = "/opt/envkit/tool"  # envkit_home; envkit_bin = {envkit_home}/venv/bin/envkit
_LINE = re.compile(r"(?:(?P<user>[A-Za-z0-9_.-]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>\d{1,5}))?")
_KEYS = ("prefix", "envkit", "key")


@dataclass(frozen=True)
class Node:
    name: str
    host: str  # the address or name ssh connects to (and, for rank 0, the rendezvous host)
    port: int | None = None
    user: str | None = None
    key: str | None = None
    ssh_args: tuple[str, ...] = ()  # extra ssh options (ansible_ssh_common_args)
    prefix: str | None = None
    envkit: str | None = None

    def ssh(self, remote: list[str], tty: bool = False) -> list[str]:
        """ssh argv running `remote` there: each word quoted, since ssh hands the remote shell one line."""
        argv = ["ssh", "-o", "BatchMode=yes", *self.ssh_args]
        if tty:
            argv.append("-tt")  # the remote launch gets SIGHUP when this connection closes: it stops its ranks
        if self.port:
            argv += ["-p", str(self.port)]
        if self.key:
            argv += ["-i", self.key]
        if self.user:
            argv += ["-l", self.user]
        return [*argv, self.host.strip("[]"), "--", shlex.join(remote)]


def load(path: Path) -> list[Node]:
    if not path.is_file():
        raise EnvkitError(f"--hosts {path}: no such file", fix="pass a hostfile (one [user@]host[:port] per line) or the fleet's Ansible inventory")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvkitError(f"--hosts {path} cannot be read ({exc})", fix="pass a readable UTF-8 hostfile or inventory") from None
    nodes = parse_hostfile(text)
    if nodes is None:
        nodes = from_inventory(path)
    if len(nodes) < 1:
        raise EnvkitError(f"--hosts {path} names no host", fix="list one node per line (the first is node 0, the rendezvous host)")
    names = [n.name for n in nodes]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise EnvkitError(f"--hosts {path} names {dup} twice", fix="list each node once")
    return nodes


def parse_hostfile(text: str) -> list[Node] | None:
    """The nodes of a hostfile; None when the text is not one (so it is read as an inventory)."""
    nodes = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        m = _LINE.fullmatch(words[0])
        opts = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if m is None or len(opts) != len(words) - 1 or set(opts) - set(_KEYS):
            return None
        port = int(m.group("port")) if m.group("port") else None
        if port is not None and not 1 <= port <= 65535:
            return None
        nodes.append(Node(m.group("host").strip("[]"), m.group("host"), port, m.group("user"), opts.get("key"), (),
                          opts.get("prefix"), opts.get("envkit")))
    return nodes


def from_inventory(path: Path) -> list[Node]:
    tool = shutil.which("ansible-inventory")
    if tool is None:
        raise EnvkitError(f"--hosts {path} is not a hostfile ([user@]host[:port] per line), and ansible-inventory, which reads "
                          "Ansible inventories, is not on PATH", fix="pip install ansible-core, or write a hostfile")
    proc = subprocess.run([tool, "-i", str(path), "--list"], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise EnvkitError(f"--hosts {path}: ansible-inventory could not read it: {proc.stderr.strip()[-400:]}",
                          fix="check the inventory with `ansible-inventory -i FILE --list`, or write a hostfile")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise EnvkitError(f"--hosts {path}: ansible-inventory printed no JSON", fix="check the inventory with `ansible-inventory -i FILE --list`") from None
    return nodes_from_inventory_json(data)


def nodes_from_inventory_json(data: dict[str, Any]) -> list[Node]:
    """ansible-inventory --list JSON -> nodes, in the inventory's order (groups depth-first from 'all')."""
    hostvars = data.get("_meta", {}).get("hostvars", {})
    order: list[str] = []

    def walk(group: str, seen: set[str]) -> None:
        if group in seen:
            return
        seen.add(group)
        entry = data.get(group, {})
        for host in entry.get("hosts", []):
            if host not in order:
                order.append(host)
        for child in entry.get("children", []):
            walk(child, seen)

    walk("all", set())
    out = []
    for name in order:
        v = hostvars.get(name, {})
        port = v.get("ansible_port")
        home = v.get("envkit_home") or ROLE_HOME
        out.append(Node(name, str(v.get("ansible_host") or name), int(port) if port else None, v.get("ansible_user"),
                        v.get("ansible_ssh_private_key_file"), tuple(shlex.split(str(v.get("ansible_ssh_common_args") or ""))),
                        v.get("envkit_prefix") or ROLE_PREFIX, v.get("envkit_bin") or f"{home}/venv/bin/envkit"))
    return out


@dataclass
class Remote:
    """What to run on each node: its envkit and its prefix (the node's own, else --prefix)."""

    node: Node
    envkit: str
    prefix: str
    extra: dict[str, str] = field(default_factory=dict)


def remotes(nodes: list[Node], prefix: str | None, envkit: str | None) -> list[Remote]:
    out = []
    for n in nodes:
        p = n.prefix or prefix
        if not p:
            raise EnvkitError(f"--hosts: node {n.name} has no prefix", fix="pass --prefix DIR (the same path on every node), or prefix=DIR on its line")
        out.append(Remote(n, n.envkit or envkit or "envkit", p))
    return out
