"""Reading the lerobot-train arguments the user passed after `--` (draccus style: --name=value or --name value)."""

from __future__ import annotations

from collections.abc import Sequence


def value(args: Sequence[str], name: str) -> str | None:
    """The last value given for --name (draccus keeps the last), or None."""
    flag = f"--{name}"
    found = None
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            found = arg[len(flag) + 1:]
        elif arg == flag and i + 1 < len(args) and not args[i + 1].startswith("--"):
            found = args[i + 1]
    return found


def has(args: Sequence[str], name: str) -> bool:
    flag = f"--{name}"
    return any(a == flag or a.startswith(flag + "=") for a in args)


def truthy(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1", "yes")
