"""--devices all | 0,1,2 | N: which devices (and so how many processes) a launch uses. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from envkit.errors import EnvkitError


@dataclass(frozen=True)
class Selection:
    nproc: int
    ids: tuple[int, ...] | None  # device indexes for the visible-devices variable; None: nothing to select
    spec: str

    def visible(self) -> str | None:
        return ",".join(str(i) for i in self.ids) if self.ids is not None else None


MAX_PROCESSES = 1024  # one host; more is a typo (an extra digit), not a training run


def select(spec: str, available: int | None, selectable: bool) -> Selection:
    """`available` is how many devices the host has (None: unknown); `selectable` is False for an
    accelerator without devices (CPU), where --devices only says how many processes to start."""
    text = (spec or "all").strip().lower()
    if text == "all":
        if not selectable:
            return Selection(1, None, text)
        if not available:
            raise EnvkitError("--devices all: no device of this accelerator was found on this host",
                              fix="check the driver (envkit detect), or name the devices: --devices 0,1")
        return Selection(available, tuple(range(available)), text)
    if text.isdigit():
        count = int(text)
        if count < 1:
            raise EnvkitError(f"--devices {spec}: at least one process is needed", fix="pass --devices 1 or more")
        if selectable and available is not None and count > available:
            raise EnvkitError(f"--devices {spec}: this host has {available} device(s) of this accelerator",
                              fix=f"pass --devices {available} (or all), or fewer")
        if count > MAX_PROCESSES:  # before anything sized by it is built (range(count), torchrun's workers)
            raise EnvkitError(f"--devices {spec}: {count} processes on one host is more than envkit starts (at most {MAX_PROCESSES})",
                              fix="pass the number of devices (or CPU processes) this host should train on, e.g. --devices 1")
        return Selection(count, tuple(range(count)) if selectable else None, text)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise EnvkitError(f"--devices {spec}: not 'all', a count or a comma-separated list of device indexes",
                          fix="e.g. --devices all, --devices 4 or --devices 0,1,2,3")
    if any(len(p) > 6 for p in parts):
        raise EnvkitError(f"--devices {spec}: a device index that large names no device", fix="e.g. --devices 0,1,2,3")
    ids = sorted({int(p) for p in parts})
    if len(ids) != len(parts):
        raise EnvkitError(f"--devices {spec} names a device twice", fix="list each device once")
    if not selectable:
        raise EnvkitError(f"--devices {spec} names devices, but this profile's accelerator has none to select",
                          fix=f"pass a process count instead: --devices {len(ids)}")
    # ASCEND_RT_VISIBLE_DEVICES must be ascending (CANN's env reference); CUDA does not mind.
    return Selection(len(ids), tuple(ids), text)


def effective_spec(spec: str, var: str | None, environ: dict[str, str], beneath: tuple[str, ...] = ()) -> str:
    """--devices all in a shell already restricted with the visible-devices variable means all of those.

    `beneath`: variables of a lower runtime layer that restrict the same devices first (the backend's
    visible_devices_also); `var` then counts from 0 among what they left, so all of N left is 0..N-1."""
    if (spec or "all").strip().lower() != "all" or not var:
        return spec
    if environ.get(var, "").strip():
        return environ[var]
    for lower in beneath:
        left = [d for d in environ.get(lower, "").split(",") if d.strip()]
        if left:
            return ",".join(str(i) for i in range(len(left)))
    return spec
