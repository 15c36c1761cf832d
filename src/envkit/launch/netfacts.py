"""The edge of a multi-node launch: what this node's network says about the rendezvous host.

Read with the socket module and psutil (interfaces and their addresses); no packet is sent by
route_to (a UDP connect only asks the kernel for the route)."""

from __future__ import annotations

import errno
import socket
import time

import psutil

from envkit.launch.rendezvous import Route


def resolve(host: str) -> str | None:
    """The first address HOST resolves to, or None."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return None
    return str(infos[0][4][0]) if infos else None


def interfaces() -> dict[str, list[str]]:
    """Interface name -> its IPv4/IPv6 addresses."""
    out: dict[str, list[str]] = {}
    for name, addrs in psutil.net_if_addrs().items():
        out[name] = [a.address.split("%")[0] for a in addrs if a.family in (socket.AF_INET, socket.AF_INET6)]
    return out


def route_to(host: str, port: int) -> Route:
    address = resolve(host)
    if address is None:
        return Route(None, None, f"{host} does not resolve on this node")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((address, port))
            local = str(s.getsockname()[0])
    except OSError as exc:
        return Route(None, None, f"no route from this node to {host} ({address}): {exc.strerror or exc}")
    owner = next((name for name, addrs in interfaces().items() if local in addrs), None)
    if owner is None and (address.startswith("127.") or address == "::1"):
        owner = next((name for name, addrs in interfaces().items() if "127.0.0.1" in addrs or "::1" in addrs), None)
    return Route(owner, local)


def is_local(host: str) -> bool:
    """HOST is an address of this node (the whole loopback range counts)."""
    address = resolve(host)
    if address is None:
        return False
    if address.startswith("127.") or address == "::1":
        return True
    return any(address in addrs for addrs in interfaces().values())


def port_answers(host: str, port: int, wait_s: float, step_s: float = 0.5) -> str | None:
    """None once a TCP connection to HOST:PORT succeeds within wait_s; else why not (the last error)."""
    deadline = time.monotonic() + max(0.0, wait_s)
    last = "no attempt"
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(3.0, max(0.2, wait_s))):
                return None
        except OSError as exc:
            last = errno.errorcode.get(exc.errno or 0, "") or str(exc)
            if isinstance(exc, socket.timeout):
                last = "timed out"
        if time.monotonic() + step_s > deadline:
            return last
        time.sleep(step_s)


def port_free(host: str, port: int) -> str | None:
    """None when this node can listen on HOST:PORT now; else why not."""
    address = resolve(host) or host
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None
