"""Host facts: what `envkit detect` found on a machine, as frozen dataclasses.

No I/O except `load_host_file`, which reads a user-given `--host FILE`. Everything that reads
hardware lives in `envkit.host`. The JSON form is documented in docs/formats.md.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from envkit.errors import EnvkitError

SCHEMA_VERSION = 1

# What detect suggests when no profile's [hardware.match] fits (envkit.suggest decides).
PROFILE_CPU = "cpu"

CONTAINER_KINDS = ("docker", "podman", "kubernetes", "lxc", "container")
NVIDIA_SOURCES = ("nvml", "sysfs", "procfs")


@dataclass(frozen=True)
class OsFacts:
    system: str
    release: str
    distro: str | None = None


@dataclass(frozen=True)
class PythonFacts:
    version: str
    executable: str | None = None


@dataclass(frozen=True)
class GpuFacts:
    index: int
    name: str
    compute_capability: str | None = None  # "12.0"; None when only the driver was seen
    memory_total_bytes: int | None = None

    def capability_tuple(self) -> tuple[int, int] | None:
        return parse_capability(self.compute_capability)


@dataclass(frozen=True)
class NvidiaFacts:
    source: str | None = None  # "nvml" | "sysfs" | "procfs" | None (no driver found)
    driver_version: str | None = None
    cuda_driver_version: str | None = None  # the newest CUDA the driver supports, e.g. "13.1"
    gpus: tuple[GpuFacts, ...] = ()
    device_nodes: tuple[str, ...] = ()
    error: str | None = None  # why NVML failed, verbatim

    def present(self) -> bool:
        """A driver or a GPU was seen."""
        return self.source is not None or bool(self.gpus)

    def max_capability(self) -> tuple[int, int] | None:
        caps = [c for c in (g.capability_tuple() for g in self.gpus) if c is not None]
        return max(caps) if caps else None


@dataclass(frozen=True)
class NpuChipFacts:
    index: int
    name: str
    health: str | None = None
    hbm_total_mb: int | None = None


@dataclass(frozen=True)
class NpuSmiFacts:
    path: str
    version: str | None = None
    chips: tuple[NpuChipFacts, ...] = ()
    error: str | None = None  # non-zero exit, timeout or unparsable output


@dataclass(frozen=True)
class CannFacts:
    version: str | None = None  # e.g. "8.3.RC1"
    version_file: str | None = None  # where the version was read
    set_env: tuple[str, ...] = ()  # set_env.sh scripts found on disk
    home_path: str | None = None  # ASCEND_HOME_PATH in this process: None = not sourced
    opp_path: str | None = None  # ASCEND_OPP_PATH in this process


@dataclass(frozen=True)
class AscendFacts:
    device_nodes: tuple[str, ...] = ()
    npu_smi: NpuSmiFacts | None = None
    driver_version: str | None = None
    cann: CannFacts = field(default_factory=CannFacts)

    def chip_nodes(self) -> tuple[str, ...]:
        return tuple(n for n in self.device_nodes if n.removeprefix("/dev/davinci").isdigit())

    def present(self) -> bool:
        """An NPU device node or npu-smi was seen."""
        return bool(self.chip_nodes()) or self.npu_smi is not None


@dataclass(frozen=True)
class ToolsFacts:
    conda: str | None = None
    mamba: str | None = None
    micromamba: str | None = None
    uv: str | None = None
    ffmpeg: str | None = None


@dataclass(frozen=True)
class HostFacts:
    os: OsFacts
    arch: str  # uname -m
    platform: str  # conda subdir, e.g. "linux-64"
    python: PythonFacts
    glibc: str | None = None
    cpu_count: int | None = None
    ram_bytes: int | None = None
    disk_free_bytes: int | None = None
    shm_bytes: int | None = None
    container: str | None = None
    nvidia: NvidiaFacts = field(default_factory=NvidiaFacts)
    ascend: AscendFacts = field(default_factory=AscendFacts)
    tools: ToolsFacts = field(default_factory=ToolsFacts)
    system_ffmpeg: tuple[str, ...] = ()  # libavutil.so.N sonames in the system library directories (what torchcodec can load)
    # What plug-in backends (entry points 'envkit.backends') collected: backend name -> their own JSON
    # object. Built-in accelerators have typed fields above; left out of the JSON when empty.
    accelerators: dict[str, dict[str, Any]] = field(default_factory=dict)
    suggested_profile: str = PROFILE_CPU
    warnings: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = _to_plain(self)
        if not data["accelerators"]:
            del data["accelerators"]
        # schema_version first: it is what a reader checks before anything else.
        return {"schema_version": data.pop("schema_version"), **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = "<host facts>") -> HostFacts:
        if not isinstance(data, dict):
            raise _bad(source, "(top level)", "must be a JSON object", data)
        version = data.get("schema_version")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise EnvkitError(
                f"{source}: key 'schema_version' is {version!r}; this envkit reads "
                f"schema_version {SCHEMA_VERSION}",
                fix="regenerate the file with `envkit detect --json > FILE` using this envkit",
            )
        facts = _build(cls, data, source, "")
        _check_choice(source, "container", facts.container, CONTAINER_KINDS)
        _check_choice(source, "nvidia.source", facts.nvidia.source, NVIDIA_SOURCES)
        return facts

    @classmethod
    def from_json(cls, text: str, source: str = "<host facts>") -> HostFacts:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EnvkitError(
                f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                fix="regenerate the file with `envkit detect --json > FILE`",
            ) from None
        return cls.from_dict(data, source)


def load_host_file(path: str | Path) -> HostFacts:
    """Read a `--host FILE` written by `envkit detect --json` (or by hand)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvkitError(
            f"host facts file {p} does not exist",
            fix="write one with `envkit detect --json > FILE` on the target machine",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvkitError(f"cannot read host facts file {p}: {exc}") from None
    return HostFacts.from_json(text, str(p))


def parse_capability(text: str | None) -> tuple[int, int] | None:
    """"8.9" -> (8, 9); anything else -> None."""
    if not text:
        return None
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return None
    return int(major), int(minor)


# --- plain <-> dataclass -------------------------------------------------------------------


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    return value


def _bad(source: str, key: str, want: str, got: Any) -> EnvkitError:
    shown = json.dumps(got) if not isinstance(got, (dict, list)) else type(got).__name__
    return EnvkitError(
        f"{source}: key '{key}' {want} (got {shown})",
        fix="fix that value, or regenerate the file with `envkit detect --json > FILE`",
    )


def _check_choice(source: str, key: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise _bad(source, key, f"must be null or one of {', '.join(choices)}", value)


def _split_optional(tp: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, True); `X` -> (X, False)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise _bad(source, prefix or "(top level)", "must be a JSON object", data)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise EnvkitError(
                    f"{source}: required key '{key}' is missing",
                    fix="add it, or regenerate the file with `envkit detect --json > FILE`",
                )
            continue  # hand-written files may leave out what they do not know
        kwargs[f.name] = _convert(hints[f.name], data[f.name], source, key)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, source: str, key: str) -> Any:
    inner, optional = _split_optional(tp)
    if typing.get_origin(inner) is dict:
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise _bad(source, key, "must be an object of backend name -> object", value)
        return value
    if value is None:
        if optional:
            return None
        raise _bad(source, key, "must not be null", value)
    if dataclasses.is_dataclass(inner):
        return _build(inner, value, source, f"{key}.")
    if typing.get_origin(inner) is tuple:
        item_type = typing.get_args(inner)[0]
        if not isinstance(value, list):
            raise _bad(source, key, "must be a list", value)
        return tuple(_convert(item_type, v, source, f"{key}[{i}]") for i, v in enumerate(value))
    if inner is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(source, key, "must be an integer", value)
        return value
    if inner is str:
        if not isinstance(value, str):
            raise _bad(source, key, "must be a string", value)
        return value
    raise TypeError(f"hostfacts: no converter for {tp!r}")  # a bug in this module, not input
