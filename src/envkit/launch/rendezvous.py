"""Training over several nodes: the rendezvous request, the launcher flags it becomes, and the
per-node network variables. Pure: the network facts (which interface routes to the rendezvous
host) are read at the edge (launch.netfacts) and passed in.

torchrun runs a c10d rendezvous: every node's agent meets at HOST:PORT, and the agent started with
`is_host=true` (node rank 0, on HOST) serves the store there. Ranks are then assigned by the
rendezvous; global rank 0 (which writes lerobot's checkpoints) lives on one of the nodes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from envkit.errors import EnvkitError

DEFAULT_RDZV_ID = "envkit"


@dataclass(frozen=True)
class Nodes:
    nnodes: int
    node_rank: int
    host: str
    port: int
    run_id: str = DEFAULT_RDZV_ID

    @property
    def endpoint(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_host(self) -> bool:
        """Node rank 0 serves the rendezvous store (so it must run on HOST)."""
        return self.node_rank == 0

    def torchrun_args(self, nproc: int) -> list[str]:
        return [f"--nnodes={self.nnodes}", f"--nproc-per-node={nproc}", f"--node-rank={self.node_rank}",
                "--rdzv-backend=c10d", f"--rdzv-endpoint={self.endpoint}", f"--rdzv-id={self.run_id}",
                f"--rdzv-conf=is_host={'true' if self.is_host else 'false'}"]

    def accelerate_args(self, nproc: int) -> list[str]:
        return [f"--num_machines={self.nnodes}", f"--machine_rank={self.node_rank}", f"--num_processes={nproc * self.nnodes}",
                f"--main_process_ip={self.host}", f"--main_process_port={self.port}"]

    def to_dict(self) -> dict[str, object]:
        return {"nnodes": self.nnodes, "node_rank": self.node_rank, "rdzv": self.endpoint, "rdzv_id": self.run_id,
                "is_host": self.is_host}


def parse(nnodes: int, node_rank: int | None, rdzv: str | None, run_id: str | None = None) -> Nodes | None:
    """The multi-node request from launch's flags; None for a one-node launch."""
    if nnodes < 1:
        raise EnvkitError(f"--nnodes {nnodes}: at least one node is needed", fix="pass --nnodes 2 or more for a multi-node run")
    if nnodes == 1 and rdzv is None and not node_rank:
        return None
    if rdzv is None:
        raise EnvkitError(f"--nnodes {nnodes} needs the rendezvous address every node meets at",
                          fix="pass --rdzv HOST:PORT, the same on every node, where HOST is the node with --node-rank 0")
    if node_rank is None:
        raise EnvkitError(f"--nnodes {nnodes}: which node is this one?",
                          fix=f"pass --node-rank 0 on the node at the --rdzv address and 1..{nnodes - 1} on the others")
    if not 0 <= node_rank < nnodes:
        raise EnvkitError(f"--node-rank {node_rank} is outside 0..{nnodes - 1} for --nnodes {nnodes}",
                          fix=f"number the nodes 0..{nnodes - 1}, each once")
    host, port = split_endpoint(rdzv)
    rid = run_id or DEFAULT_RDZV_ID
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", rid):
        raise EnvkitError(f"--rdzv-id {rid!r}: use letters, digits, '.', '_' or '-' (at most 64)", fix="e.g. --rdzv-id act-run-1")
    return Nodes(nnodes, node_rank, host, port, rid)


def split_endpoint(text: str) -> tuple[str, int]:
    """'node1:29500', '10.0.0.1:29500', '[fe80::1]:29500' -> (host, port)."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([A-Za-z0-9_.-]+):(\d{1,5})", (text or "").strip())
    if not m:
        raise EnvkitError(f"--rdzv {text!r} is not HOST:PORT", fix="e.g. --rdzv node1:29500 or --rdzv 10.0.0.1:29500 ([ADDR]:PORT for IPv6)")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if not 1 <= port <= 65535:
        raise EnvkitError(f"--rdzv {text}: port {port} is not 1..65535", fix="pick a free TCP port, e.g. 29500")
    if m.group(1):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise EnvkitError(f"--rdzv {text}: {host} is not an IPv6 address", fix="write [ADDR]:PORT with a valid address") from None
    return host, port


@dataclass(frozen=True)
class Route:
    """How this node reaches the rendezvous host: the interface and the local address it leaves from."""

    interface: str | None
    address: str | None
    error: str | None = None  # why it could not be found (name does not resolve, no route)


def node_env(network_vars: tuple[tuple[str, str], ...], route: Route, environ: dict[str, str]) -> dict[str, str]:
    """The collective's interface/address variables for this node from the route (the user's values win).

    network_vars: the backend's (VARIABLE, "ifname" | "ip") pairs."""
    out: dict[str, str] = {}
    for var, kind in network_vars:
        if var in environ:
            continue
        value = route.interface if kind == "ifname" else route.address
        if value:
            out[var] = value
    return out


def ifname_matches(spec: str, name: str) -> bool:
    """NCCL/Gloo-style interface selection: 'eth0', a prefix 'eth', '=eth0' exact, '^docker,lo' exclusion, comma lists."""
    spec = spec.strip()
    if spec.startswith("^"):
        return not any(_one(part, name) for part in spec[1:].split(",") if part)
    return any(_one(part, name) for part in spec.split(",") if part)


def _one(part: str, name: str) -> bool:
    part = part.strip()
    return name == part[1:] if part.startswith("=") else name.startswith(part)
