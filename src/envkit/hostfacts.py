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

from envkit.accel import facts_layout
from envkit.errors import EnvkitError

SCHEMA_VERSION = 1

# What detect suggests when no profile's [hardware.match] fits (envkit.suggest decides).
PROFILE_CPU = "cpu"

CONTAINER_KINDS = ("docker", "podman", "kubernetes", "lxc", "container")


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
    tools: ToolsFacts = field(default_factory=ToolsFacts)
    system_ffmpeg: tuple[str, ...] = ()  # libavutil.so.N sonames in the system library directories (what torchcodec can load)
    # What each backend's `collect` read: backend name -> its facts. A built-in that declares FACTS
    # (envkit.accel) gets its typed dataclass; with a JSON key too, the facts are written under that
    # top-level key (schema_version 1: "nvidia", "ascend"), always. The rest (plug-ins' JSON objects)
    # go under "accelerators", left out of the JSON when empty.
    accelerators: dict[str, Any] = field(default_factory=dict)
    suggested_profile: str = PROFILE_CPU
    warnings: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        layout = facts_layout()
        keyed = {key: _to_plain(self.accelerators.get(name) or kind())
                 for name, (key, kind) in layout.items() if key is not None}
        loose = {name: _to_plain(value) for name, value in self.accelerators.items()
                 if layout.get(name, (None, None))[0] is None}
        # schema_version first: it is what a reader checks before anything else.
        data: dict[str, Any] = {"schema_version": self.schema_version}
        for f in dataclasses.fields(self):
            if f.name == "accelerators":
                if loose:
                    data["accelerators"] = loose
            elif f.name != "schema_version":
                data[f.name] = _to_plain(getattr(self, f.name))
            if f.name == "container":  # where schema_version 1 put the built-ins' typed fields
                data.update(keyed)
        return data

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
        check_choice(source, "container", facts.container, CONTAINER_KINDS)
        found: dict[str, Any] = {}
        for name, (key, kind) in facts_layout().items():
            if key is not None:
                value = _build(kind, data[key], source, f"{key}.") if key in data else kind()
            elif name in facts.accelerators:
                value = _build(kind, facts.accelerators[name], source, f"accelerators.{name}.")
            else:
                continue
            if hasattr(value, "check"):  # what the JSON's types cannot say (e.g. a closed set of values)
                value.check(source, key or f"accelerators.{name}")
            found[name] = value
        return dataclasses.replace(facts, accelerators={**facts.accelerators, **found})

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


def check_choice(source: str, key: str, value: str | None, choices: tuple[str, ...]) -> None:
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
