"""Hardware profiles: load, validate against the versioned schema, apply `extends`.

A profile is data (profiles/*.toml): ranges and choices that the resolver turns into exact
versions. Users may pass their own file; every mistake is reported with the file, the key and
what was expected.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envkit import pyversions, secrets
from envkit.accel import ENTRY_POINT_GROUP, builtins, installed, known
from envkit.accel.registry import get_backend
from envkit.errors import EnvkitError
from envkit.fields import Field, each, enum, matches, specifier
from envkit.resources import data_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SCHEMA_VERSION = 1
PLATFORMS = ("linux-64", "linux-aarch64")

# --- schema -------------------------------------------------------------------------------
# A spec is a dict key -> Field (envkit.fields). Keys an accelerator adds to [packages],
# [hardware] and [hardware.match] are its backend's (`profile_fields`), checked per platform view
# once the accelerator is known (`_check_backend_keys`).

_enum, _each, _specifier, _matches = enum, each, specifier, matches  # older names, used below


_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_table(value: Any) -> str | None:
    """The hooks export these names: a name the shell rejects must fail at load, not after the installs."""
    for name, val in value.items():
        if not _VAR_NAME.fullmatch(name):
            return f"variable names of letters, digits and '_' that do not start with a digit ({name!r} is not one)"
        if "\x00" in val:
            return f"values without NUL characters ({name!r} has one)"
    return None


def _accelerator(value: Any) -> str | None:
    if known(value):
        return None
    names = ", ".join(repr(n) for n in installed())
    return f"one of {names} (the installed backends; a distribution adds others through the entry-point group '{ENTRY_POINT_GROUP}')"


_INDEX = {
    "name": Field("str", "an index name such as 'pytorch-cpu'"),
    "url": Field("str", "the index URL (a PEP 503 simple index)", check=_matches(r"(https?|file)://\S+", "an http(s):// or file:// URL")),
    "packages": Field("list[str]", "the distributions taken from this index"),
    "explicit": Field("bool", "true when only the listed packages may come from this index"),
}
_PACKAGES = {
    "torch": Field("str", "a version specifier", check=_specifier),
    "torchvision": Field("str", "a version specifier", check=_specifier),
    "torchcodec": Field("str", "a version specifier", check=_specifier),
    "torch_local": Field("str", "a local version label of torch, e.g. 'cpu'", check=_matches(r"[a-z0-9]+", "a label like 'cpu' or 'cu128'")),
    "video_backend": Field("str", "the video decoder", check=_enum("torchcodec", "pyav")),
}
_FFMPEG = {
    "majors": Field("list[int]", "FFmpeg major versions, e.g. [6]", check=_each(lambda m: None if 4 <= m <= 9 else "a major in 4..9")),
    "source": Field("str", "where FFmpeg comes from", check=_enum("conda-forge", "system", "none")),
}
_LEROBOT = {
    "source": Field("str", "a lerobot SRC: 'lerobot==0.4.4', a git URL or a path"),
    "git": Field("str", "a git URL with @<commit>"),
    "extras": Field("list[str]", "lerobot extras such as ['aloha']"),
    "patch": Field("str", "a patch file name in patches/"),
}
# [hardware]: common keys; the accelerator's backend adds its own (gpu, npu, driver floors, ...).
_HARDWARE: dict[str, Field] = {
    "match": Field("table", "a [hardware.match] table: how `envkit detect` recognises this profile's hardware", {}),
}
# Sections whose keys the profile's backend completes; their unknown keys are judged per view.
BACKEND_SECTIONS = ("packages", "hardware", "match")
_ASSET = {
    "file": Field("str", "the file name"),
    "sha256": Field("str", "a full sha256", check=_matches(r"[0-9a-f]{64}", "64 lowercase hex digits")),
    "sha256_prefix": Field("str", "the leading hex digits of the sha256", check=_matches(r"[0-9a-f]{8,64}", "8-64 lowercase hex digits")),
    "url": Field("str", "where users download it on a connected machine"),
}
_CPU_BUILDS = {
    "name": Field("str", "an index name such as 'pytorch-cpu'"),
    "url": Field("str", "the index serving CPU-only builds (a PEP 503 simple index)",
                 check=_matches(r"(https?|file)://\S+", "an http(s):// or file:// URL")),
    "packages": Field("list[str]", "the distributions taken from it, e.g. [\"torch\", \"torchvision\", \"torchcodec\"]"),
}
_OVERLAY = {
    "packages": Field("table", "a [packages] table", _PACKAGES),
    "cpu_builds": Field("table", "a [cpu_builds] table: where CPU-only torch builds come from when reachable", _CPU_BUILDS),
    "ffmpeg": Field("table", "an [ffmpeg] table", _FFMPEG),
    "lerobot": Field("table", "a [lerobot] table", _LEROBOT),
    "hardware": Field("table", "a [hardware] table", _HARDWARE),
    "indexes": Field("list[table]", "an array of index tables", _INDEX),
    "env": Field("map[str]", "NAME = \"value\" pairs", check=_env_table),
}
SPEC: dict[str, Field] = {
    "schema_version": Field("int", f"the integer {SCHEMA_VERSION}"),
    "name": Field("str", "the profile name", check=_matches(r"[A-Za-z0-9][A-Za-z0-9._-]*", "letters, digits, '.', '_' or '-'")),
    "version": Field("int", "the profile's own revision number"),
    "aliases": Field("list[str]", "other names for this profile"),
    "description": Field("str", "one line describing the profile"),
    "extends": Field("str", "the name or path of the profile this one builds on"),
    "accelerator": Field("str", "the accelerator", check=_accelerator),
    "platforms": Field("list[str]", "conda platforms", check=_each(_enum(*PLATFORMS))),
    "python": Field("str|list[str]", "a minor version ('3.11'), a range ('>=3.10') or a preference list (['3.12', '3.11'])",
                    check=pyversions.check_value),
    "environment": Field("str", "the environment kind", check=_enum("conda", "venv")),
    "hardware": _OVERLAY["hardware"],
    "packages": _OVERLAY["packages"],
    "ffmpeg": _OVERLAY["ffmpeg"],
    "lerobot": _OVERLAY["lerobot"],
    "indexes": _OVERLAY["indexes"],
    "cpu_builds": _OVERLAY["cpu_builds"],
    "env": _OVERLAY["env"],
    "env_on_request": Field("map[str]", "NAME = \"what it is for\" pairs"),
    "conda": Field("table", "a [conda] table", {
        "channels": Field("list[str]", "conda channels (names or URLs)"),
        "virtual_packages": Field("map[str]", "virtual packages such as { __cuda = \"12.8\" }"),
    }),
    "lock": Field("table", "a [lock] table", {
        "exclude_newer": Field("str", "an RFC 3339 timestamp", check=_matches(r"\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\dZ)?", "a date like '2026-11-01T00:00:00Z'")),
    }),
    "assets": Field("map[table]", "asset tables such as [assets.resnet18]", _ASSET),
    "platform": Field("map[table]", "per-platform overrides such as [platform.linux-64.packages]", _OVERLAY),
}
REQUIRED = ("schema_version", "name", "accelerator", "platforms", "python", "environment", "packages", "ffmpeg", "lerobot")


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "str|list[str]":
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "list[int]":
        return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if kind == "map[str]":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind in ("table", "map[table]"):
        return isinstance(value, dict)
    if kind == "list[table]":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    raise AssertionError(kind)


def _validate(table: dict[str, Any], spec: dict[str, Field], where: str, file: Path) -> None:
    for key, value in table.items():
        path = f"{where}.{key}" if where else key
        field_ = spec.get(key)
        if field_ is None and where.rpartition(".")[2] in BACKEND_SECTIONS:
            continue  # an accelerator's own key: judged with its backend's fields per view (_check_backend_keys)
        if field_ is None:
            close = difflib.get_close_matches(key, list(spec), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise EnvkitError(
                f"Profile {file}: unknown key '{path}'.{hint} Allowed here: {', '.join(sorted(spec))}",
                fix=f"remove or rename '{path}' (schema: profiles/SCHEMA.md)",
            )
        if not _type_ok(field_.kind, value):
            raise EnvkitError(
                f"Profile {file}: key '{path}' has the wrong type ({type(value).__name__}); expected {field_.expect} ({field_.kind})",
                fix=f"set '{path}' to {field_.expect}",
            )
        if field_.check is not None:
            problem = field_.check(value)
            if problem:
                raise EnvkitError(
                    f"Profile {file}: key '{path}' = {value!r} is not valid; expected {problem}",
                    fix=f"set '{path}' to {field_.expect}",
                )
        if field_.spec is not None:
            if field_.kind == "table":
                _validate(value, field_.spec, path, file)
            elif field_.kind == "list[table]":
                for i, item in enumerate(value):
                    _validate(item, field_.spec, f"{path}[{i}]", file)
            elif field_.kind == "map[table]":
                for sub, item in value.items():
                    if key == "platform" and sub not in PLATFORMS:
                        raise EnvkitError(
                            f"Profile {file}: '{path}.{sub}' names an unknown platform; expected one of {', '.join(PLATFORMS)}",
                            fix="rename the table to [platform.linux-64] or [platform.linux-aarch64]",
                        )
                    if not isinstance(item, dict):
                        raise EnvkitError(f"Profile {file}: '{path}.{sub}' must be a table", fix=f"write it as [{path}.{sub}]")
                    _validate(item, field_.spec, f"{path}.{sub}", file)


# --- the profile object ----------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """A validated profile (extends already applied); `platform` is set on a per-platform view."""

    data: dict[str, Any]
    path: Path
    platform: str | None = None
    chain: tuple[str, ...] = field(default=())
    user_file: str | None = None  # the resolved file of a user's profile; None for a built-in one

    name = property(lambda self: self.data["name"])
    version = property(lambda self: int(self.data.get("version", 1)))
    aliases = property(lambda self: tuple(self.data.get("aliases", ())))
    description = property(lambda self: self.data.get("description", ""))
    accelerator = property(lambda self: self.data["accelerator"])
    platforms = property(lambda self: tuple(self.data["platforms"]))
    python_value = property(lambda self: self.data["python"])  # "3.11", ">=3.10" or ["3.12", "3.11"]
    python = property(lambda self: pyversions.describe(self.data["python"]) if not isinstance(self.data["python"], str)
                      or not pyversions.MINOR.fullmatch(self.data["python"]) else self.data["python"])
    environment = property(lambda self: self.data["environment"])
    hardware = property(lambda self: dict(self.data.get("hardware", {})))
    packages = property(lambda self: dict(self.data.get("packages", {})))
    ffmpeg = property(lambda self: dict(self.data.get("ffmpeg", {})))
    lerobot = property(lambda self: dict(self.data.get("lerobot", {})))
    indexes = property(lambda self: [dict(i) for i in self.data.get("indexes", [])])
    env = property(lambda self: dict(self.data.get("env", {})))
    env_on_request = property(lambda self: dict(self.data.get("env_on_request", {})))
    conda = property(lambda self: dict(self.data.get("conda", {})))
    lock = property(lambda self: dict(self.data.get("lock", {})))
    assets = property(lambda self: {k: dict(v) for k, v in self.data.get("assets", {}).items()})

    @property
    def video_backend(self) -> str:
        return self.packages.get("video_backend", "torchcodec")

    def for_platform(self, platform: str) -> "Profile":
        """The profile as it applies on one platform: [platform.<p>] merged over the base."""
        if platform not in self.platforms:
            raise EnvkitError(
                f"Profile '{self.name}' ({self.path}) does not target platform {platform}; it targets {', '.join(self.platforms)}",
                fix=f"pick one of: {', '.join(self.platforms)}",
            )
        overlay = self.data.get("platform", {}).get(platform, {})
        merged = _merge({k: v for k, v in self.data.items() if k != "platform"}, overlay)
        view = Profile(merged, self.path, platform, self.chain, self.user_file)
        _check_combinations(view)
        return view

    def digest(self) -> str:
        """A stable hash of the effective profile (for lock manifests and setup state).

        [hardware.match] is left out: it only decides what `envkit detect` suggests, never what
        is installed, so adding one must not make a lock stale."""
        data = copy.deepcopy(self.data)
        data.get("hardware", {}).pop("match", None)
        for overlay in data.get("platform", {}).values():
            overlay.get("hardware", {}).pop("match", None)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))

        return hashlib.sha256(blob.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; arrays and scalars replace (so an override is explicit)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _sections(p: Profile) -> dict[str, dict[str, Any]]:
    hardware = p.hardware
    match = hardware.get("match", {})
    return {"packages": p.packages, "hardware": hardware, "match": match if isinstance(match, dict) else {}}


_COMMON = {"packages": _PACKAGES, "hardware": _HARDWARE, "match": {}}
_PATH = {"packages": "packages", "hardware": "hardware", "match": "hardware.match"}


def _check_backend_keys(p: Profile, backend: Any) -> None:
    """Keys of [packages], [hardware], [hardware.match] beyond the common ones belong to the backend."""
    for section, table in _sections(p).items():
        own = dict(backend.profile_fields.get(section, {}))
        allowed = {**_COMMON[section], **own}
        for key in table:
            if key in allowed:
                continue
            path = f"{_PATH[section]}.{key}"
            for other in builtins():  # a key another accelerator owns: say whose it is
                if other == p.accelerator:
                    continue
                owned = get_backend(other).profile_fields.get(section, {}).get(key)
                if owned is not None:
                    raise EnvkitError(
                        f"Profile {p.path}: '{path}' is a key of accelerator '{other}' ({owned.expect}), "
                        f"but this profile's accelerator is '{p.accelerator}'",
                        fix=f"remove {path} or set accelerator = \"{other}\"")
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise EnvkitError(
                f"Profile {p.path}: unknown key '{path}' for accelerator '{p.accelerator}'.{hint} Allowed here: {', '.join(sorted(allowed))}",
                fix=f"remove or rename '{path}' (schema: profiles/SCHEMA.md; an accelerator's keys: docs/backends.md)",
            )
        _validate({k: v for k, v in table.items() if k in own}, own, _PATH[section], p.path)


def _check_combinations(p: Profile) -> None:
    """Reject combinations no environment can satisfy, naming the keys involved."""
    where = f"Profile {p.path}" + (f" (platform {p.platform})" if p.platform else "")
    pk = p.packages

    def bad(message: str, fix: str) -> EnvkitError:
        return EnvkitError(f"{where}: {message}", fix=fix)

    if "torch" not in pk:
        raise bad("'packages.torch' is missing", "add packages.torch, e.g. torch = \"==2.8.0\"")
    backend = get_backend(p.accelerator, f"Profile {p.path}: key 'accelerator'")
    _check_backend_keys(p, backend)
    backend.check_profile(p, bad)
    # [env_on_request] documents what `setup --visible-devices` may set; the backend decides which
    # variable that is, so a name it will never set is a mistake in the profile, not a silent no-op.
    for name in p.env_on_request:
        if name != backend.visible_devices_var:
            can = f"only {backend.visible_devices_var}" if backend.visible_devices_var else "none"
            raise bad(f"'env_on_request.{name}': accelerator '{p.accelerator}' sets {can} on request (setup --visible-devices)",
                      f"remove {name} from [env_on_request], or set it under [env] to apply it always")
    if p.platform and p.video_backend == "torchcodec" and "torchcodec" not in pk:
        raise bad("'packages.video_backend' is 'torchcodec' but 'packages.torchcodec' is missing", "add packages.torchcodec or use video_backend = \"pyav\"")
    if p.environment == "venv" and p.ffmpeg.get("source") == "conda-forge":
        raise bad("a venv cannot hold conda-forge FFmpeg ('environment' = 'venv', 'ffmpeg.source' = 'conda-forge')",
                  "set environment = \"conda\" or ffmpeg.source = \"system\"")
    if p.video_backend == "torchcodec" and p.ffmpeg.get("source") == "none":
        raise bad("torchcodec needs FFmpeg's shared libraries but 'ffmpeg.source' is 'none'", "set ffmpeg.source to \"conda-forge\" or \"system\"")
    if not p.ffmpeg.get("majors"):
        raise bad("'ffmpeg.majors' is empty", "list the FFmpeg majors this profile accepts, e.g. [6]")
    patch = p.lerobot.get("patch")
    if patch and not (data_dir("patches") / patch).is_file() and not (p.path.parent / patch).is_file():
        raise bad(f"'lerobot.patch' names {patch!r}, which is neither in envkit's patches/ nor beside the profile",
                  "put the patch file in patches/ or next to the profile")
    for i, index in enumerate(p.indexes):
        for key in ("name", "packages"):
            if key not in index:
                raise bad(f"'indexes[{i}]' has no '{key}'", f"add {key} to that index table")
    if "source" not in p.lerobot:
        raise bad("'lerobot.source' is missing", "add lerobot.source, e.g. \"lerobot==0.4.4\"")


# --- loading -----------------------------------------------------------------------------------


def toml_error_text(exc: Exception, text: str) -> str:
    """tomllib says '(at end of document)' for an unterminated value: name the line anyway."""
    message = str(exc)
    if "(at end of document)" in message:
        last = text.rstrip("\n").count("\n") + 1
        message = message.replace("(at end of document)", f"(at end of document, line {last})")
    return message


def builtin_dir() -> Path:
    return data_dir("profiles")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a UTF-8 BOM (Windows editors write one) is not TOML syntax
    except FileNotFoundError:
        raise EnvkitError(f"Profile file {path} does not exist", fix="check the path, or run 'envkit profiles' to list the built-in profiles") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvkitError(f"Profile file {path} cannot be read: {exc}", fix="make it a readable UTF-8 TOML file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EnvkitError(f"Profile file {path} is not valid TOML: {toml_error_text(exc, text)}",
                          fix="correct the TOML syntax at that line and column") from None


def _builtin_index() -> dict[str, Path]:
    """name and aliases -> file, read from the built-in profiles without full validation."""
    index: dict[str, Path] = {}
    for path in sorted(builtin_dir().glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        for name in [raw.get("name", path.stem), *raw.get("aliases", [])]:
            if isinstance(name, str):
                index.setdefault(name, path)
    return index


def _looks_like_path(ref: str) -> bool:
    return ref.endswith(".toml") or "/" in ref or ref.startswith(".")


def locate(ref: str, relative_to: Path | None = None) -> Path:
    """A profile name, alias or file path -> the file."""
    if _looks_like_path(ref):
        path = Path(ref).expanduser()
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        if not path.exists():
            raise EnvkitError(f"Profile file {path} does not exist", fix="check the path, or run 'envkit profiles' to list the built-in profiles")
        return path
    direct = builtin_dir() / f"{ref}.toml"
    if direct.is_file():  # the common case: a built-in name; no need to read every profile for aliases
        return direct
    index = _builtin_index()
    if ref in index:
        return index[ref]
    close = difflib.get_close_matches(ref, list(index), n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    names = sorted({p.stem for p in index.values()})
    raise EnvkitError(
        f"Unknown profile '{ref}'.{hint} Built-in profiles: {', '.join(names)}",
        fix="pass a built-in name (envkit profiles lists them) or the path of your own profile .toml",
    )


def _load_raw(path: Path, chain: tuple[str, ...]) -> tuple[dict[str, Any], tuple[str, ...]]:
    key = str(path.resolve())
    if key in chain:
        cycle = " -> ".join([*chain, key])
        raise EnvkitError(f"Profile {path}: 'extends' forms a cycle: {cycle}", fix="make one of these profiles stand alone (remove its 'extends')")
    chain = (*chain, key)
    raw = _read_toml(path)
    # The version decides which schema applies, so it is checked before any other key.
    if raw.get("schema_version") != SCHEMA_VERSION:
        found = raw.get("schema_version", "missing")
        raise EnvkitError(
            f"Profile {path}: 'schema_version' is {found!r}; this envkit reads schema_version = {SCHEMA_VERSION}",
            fix=f"set schema_version = {SCHEMA_VERSION} and check the keys against profiles/SCHEMA.md",
        )
    _validate(raw, SPEC, "", path)
    parent_ref = raw.get("extends")
    if parent_ref is None:
        return raw, chain
    try:
        parent_path = locate(parent_ref, path.parent)
    except EnvkitError as exc:  # say which file asked for the missing one
        raise EnvkitError(f"Profile {path}: 'extends = {parent_ref!r}': {exc.message}", exc.fix) from None
    parent, chain = _load_raw(parent_path, chain)
    child = {k: v for k, v in raw.items() if k not in ("extends",)}
    merged = _merge(parent, child)
    if "aliases" not in raw:  # an extension does not inherit its parent's names
        merged.pop("aliases", None)
    merged.pop("extends", None)
    return merged, chain


def load_profile(ref: str) -> Profile:
    """Load a built-in profile by name/alias, or a user's profile file, fully validated."""
    path = locate(ref)
    data, chain = _load_raw(path, ())
    data.setdefault("name", path.stem)
    for key in REQUIRED:
        if key not in data:
            raise EnvkitError(f"Profile {path}: required key '{key}' is missing", fix=f"add '{key}' (or 'extends' a profile that has it)")
    resolved_path = path.resolve()
    builtin = resolved_path.parent == builtin_dir().resolve()
    profile = Profile(data, path, None, chain, None if builtin else str(resolved_path))
    for platform in profile.platforms:  # validate every platform view now, not at first use
        profile.for_platform(platform)
    secrets.register_env_tables(data)  # [env] HF_TOKEN = "..." is masked in every output from now on
    return profile


def list_profiles() -> list[Profile]:
    return [load_profile(str(path)) for path in sorted(builtin_dir().glob("*.toml"))]
