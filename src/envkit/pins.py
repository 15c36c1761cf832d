"""Rewrite lerobot's torch/torchvision/torchcodec pins so a resolved tuple installs: the plan.

Pure, no file I/O (tests/test_pins_pure.py reads this module to keep it so): `plan_pyproject`
takes a pyproject's text and gives back a PinPlan, judging every requirement that names a
target package (PEP 621 dependencies and extras, dependency groups, `[tool.uv]` lists and
sources, Poetry tables) for the profile's TARGET platform and editing only the specifiers
that exclude the resolved version, through tomlkit so comments, order and quoting survive.
`judge_requirements` and `overrides` express the same decision for lerobot installed from an
index.

The file side (reading the pyproject, the atomic rewrite with its backup and sidecar, restore)
is envkit.pin_files.
"""

from __future__ import annotations

import copy
import difflib
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement

from envkit.errors import EnvkitError
from envkit.poetry_constraints import ConstraintError, poetry_admits, widen_pep440, widen_poetry
from envkit.tomltext import TOMLDecodeError, loads_cached

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_NEVER = "sys_platform == 'never'"  # uv's documented way to drop a dependency via --override


@dataclass(frozen=True)
class PinChange:
    package: str
    location: str  # e.g. "project.dependencies[5]", "tool.poetry.dependencies.torch"
    old: str  # the specifier / constraint / source as written
    new: str
    resolved: str
    marker: str | None
    kind: str  # "specifier" | "index-source"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PinPlan:
    changes: list[PinChange]
    new_text: str
    conflicts: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        """True when the file as it stands does not admit the tuple."""
        return bool(self.changes or self.conflicts)

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "conflicts": list(self.conflicts)}


# --- target environment ------------------------------------------------------------------

_PLATFORMS = {  # conda subdir -> (sys_platform, platform_machine, platform_system, os_name)
    "linux-64": ("linux", "x86_64", "Linux", "posix"),
    "linux-aarch64": ("linux", "aarch64", "Linux", "posix"),
    "osx-64": ("darwin", "x86_64", "Darwin", "posix"),
    "osx-arm64": ("darwin", "arm64", "Darwin", "posix"),
    "win-64": ("win32", "AMD64", "Windows", "nt"),
}


def target_marker_env(platform: str, python: str) -> dict[str, str]:
    """The PEP 508 environment of a target (conda subdir + Python X.Y), never of this host."""
    if platform not in _PLATFORMS:
        raise EnvkitError(f"Unknown platform {platform!r}", fix=f"use one of {', '.join(_PLATFORMS)}")
    sys_platform, machine, system, os_name = _PLATFORMS[platform]
    return _complete_env({"sys_platform": sys_platform, "platform_machine": machine,
                          "platform_system": system, "os_name": os_name, "python_version": python})


def _complete_env(env: Mapping[str, str]) -> dict[str, str]:
    """Fill the keys a marker may name but a target description leaves out, neutrally."""
    out = dict(env)
    python = out.get("python_version", "3.10")
    out.setdefault("python_version", python)
    out.setdefault("python_full_version", python if python.count(".") >= 2 else python + ".0")
    out.setdefault("implementation_name", "cpython")
    out.setdefault("implementation_version", out["python_full_version"])
    out.setdefault("platform_python_implementation", "CPython")
    out.setdefault("os_name", "nt" if out.get("sys_platform") == "win32" else "posix")
    out.setdefault("platform_release", "")
    out.setdefault("platform_version", "")
    out.setdefault("platform_system", {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}.get(out.get("sys_platform", ""), ""))
    out.setdefault("sys_platform", "linux")
    out.setdefault("platform_machine", "x86_64")
    out.setdefault("extra", "")
    return out


def _marker_applies(marker: Any, env: Mapping[str, str]) -> bool:
    """Does `marker` hold on the target? Requirements behind an extra count (the extra may be asked for)."""
    if marker is None:
        return True
    text = str(marker)
    extras = [""] + re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", text)
    return any(marker.evaluate({**env, "extra": extra}) for extra in extras)


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _targets(targets: Mapping[str, str | None]) -> dict[str, str | None]:
    return {_canon(k): v for k, v in targets.items()}


# --- one PEP 508 string --------------------------------------------------------------------

_REQ_PARTS = re.compile(
    r"^(\s*[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\s*(?:\[[^\]]*\])?\s*\(?)"  # name[extras] (
    r"([^;()@]*?)"  # the specifier, exactly as written
    r"(\s*\)?\s*(?:;.*)?)$",  # ) ; marker
    re.S,
)


@dataclass(frozen=True)
class _Verdict:
    change: PinChange | None = None
    new_raw: str | None = None
    conflict: str | None = None
    torch: bool = False  # the string requires torch (a lerobot pyproject must)


_LEADING_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _judge_pep508(raw: str, targets: Mapping[str, str | None], env: Mapping[str, str], location: str) -> _Verdict:
    leading = _LEADING_NAME.match(raw)
    if leading and _canon(leading.group(1)) not in targets and _canon(leading.group(1)) != "torch":
        # Not a target, so nothing to judge: the verdict a full parse would give, without the
        # parse (a lerobot pyproject has ~120 requirements and names 3 targets in a handful)
        return _Verdict()
    try:
        req = Requirement(raw)
    except InvalidRequirement:
        return _Verdict()  # not ours to police: only target packages matter
    name = _canon(req.name)
    if name not in targets:
        return _Verdict(torch=name == "torch")
    marker = str(req.marker) if req.marker else None
    named = name == "torch"
    if not _marker_applies(req.marker, env):
        return _Verdict(torch=named)
    version = targets[name]
    if version is None:
        return _Verdict(torch=named, conflict=f"{location}: {raw!r} installs {req.name} on the target, but the profile installs none")
    if req.url:
        return _Verdict(torch=named, conflict=f"{location}: {req.name} comes from {req.url}, not the profile's {req.name} {version}")
    if req.specifier.contains(version, prereleases=True):
        return _Verdict(torch=named)
    parts = _REQ_PARTS.match(raw)
    if not parts:
        return _Verdict(torch=named, conflict=f"{location}: cannot edit {raw!r}; it must admit {req.name} {version}")

    prefix, spec, suffix = parts.groups()
    new_spec = widen_pep440(spec, version)
    change = PinChange(req.name, location, spec.strip(), new_spec.strip(), version, marker, "specifier")
    return _Verdict(change=change, new_raw=prefix + new_spec + suffix, torch=named)


def judge_requirements(requirements: Iterable[str], targets: Mapping[str, str], marker_env: Mapping[str, str]) -> list[PinChange]:
    """For lerobot installed from an index: which Requires-Dist lines block the tuple."""
    env = _complete_env(marker_env)
    wanted = _targets(targets)
    changes = []
    for i, raw in enumerate(requirements):
        verdict = _judge_pep508(raw, wanted, env, f"requires-dist[{i}]")
        if verdict.change:
            changes.append(verdict.change)
    return changes


def overrides(targets: Mapping[str, str | None]) -> list[str]:
    """The installer form of the same decision (uv --override): exact pins, or a never-true marker
    for a package the profile leaves out (e.g. torchcodec under the PyAV backend)."""
    return [f"{name}=={version}" if version else f"{name} ; {_NEVER}" for name, version in targets.items()]


# --- the pyproject -----------------------------------------------------------------------


def _parse(text: str, source_name: str) -> Any:
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise EnvkitError(
            f"{source_name} is not valid TOML: {_toml_reason(text, exc)} at line {exc.line}, column {exc.col}",
            fix="correct the TOML syntax at that line and column",
        ) from None


def _toml_reason(text: str, exc: Exception) -> str:
    """tomllib words errors better ("Unclosed array"); tomlkit knows the line even at end of file."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        return str(err).split(" (at ")[0]
    return str(exc).split(" at line")[0].replace("'\\x00'", "end of file")


def _restyle(old: Any, new: str) -> Any:
    """A tomlkit string holding `new`, quoted like `old` and keeping its trailing comment."""
    import tomlkit
    from tomlkit.items import String, StringType

    kind = old.type if isinstance(old, String) else StringType.SLB
    item = tomlkit.string(new, literal=kind in (StringType.SLL, StringType.MLL), multiline=kind.is_multiline())
    if hasattr(old, "trivia"):
        vars(item.trivia).update(vars(old.trivia))
    return item


def _get(table: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not hasattr(table, "get"):
            return None
        table = table.get(key)
        if table is None:
            return None
    return table


class _Planner:
    """Walks one parsed pyproject, editing it in place and collecting changes."""

    def __init__(self, doc: Any, targets: Mapping[str, str | None], env: Mapping[str, str],
                 index_urls: Mapping[str, str | None]) -> None:
        self.doc = doc
        self.targets = targets
        self.env = env
        self.index_urls = {_canon(k): v for k, v in index_urls.items()}
        self.changes: list[PinChange] = []
        self.conflicts: list[str] = []
        self.has_torch = False

    # PEP 621, dependency groups, [tool.uv] lists: arrays of PEP 508 strings
    def string_array(self, array: Any, location: str) -> None:
        if not isinstance(array, list):
            return
        for i in range(len(array)):
            item = array[i]
            if not isinstance(item, str):
                continue  # {include-group = "..."} in dependency groups
            verdict = _judge_pep508(str(item), self.targets, self.env, f"{location}[{i}]")
            self._record(verdict)
            if verdict.change and verdict.new_raw is not None:
                array[i] = _restyle(item, verdict.new_raw)

    def _record(self, verdict: _Verdict) -> None:
        self.has_torch = self.has_torch or verdict.torch
        if verdict.change:
            self.changes.append(verdict.change)
        if verdict.conflict:
            self.conflicts.append(verdict.conflict)

    # Poetry: name = "^1.2" | {version = "^1.2", markers = "...", python = "...", optional = true} | [ {...}, ... ]
    def poetry_table(self, table: Any, location: str) -> None:
        if not hasattr(table, "items"):
            return
        for key, value in list(table.items()):
            name = _canon(key)
            self.has_torch = self.has_torch or name == "torch"
            if name not in self.targets:
                continue
            entries = value if isinstance(value, list) else [value]
            for j, entry in enumerate(entries):
                where = f"{location}.{key}" + (f"[{j}]" if isinstance(value, list) else "")
                self._poetry_entry(table, key, entry, j if isinstance(value, list) else None, where)

    def _poetry_entry(self, table: Any, key: str, entry: Any, index: int | None, where: str) -> None:
        version = self.targets[_canon(key)]
        marker_text = entry.get("markers") if hasattr(entry, "get") else None
        try:
            if marker_text and not _marker_applies(Marker(str(marker_text)), self.env):
                return
        except InvalidMarker:
            self.conflicts.append(f"{where}: cannot read markers {marker_text!r}")
            return
        if hasattr(entry, "get") and not self._poetry_scope(entry):
            return
        constraint = entry if isinstance(entry, str) else entry.get("version")
        if version is None:
            self.conflicts.append(f"{where}: installs {key} on the target, but the profile installs none")
            return
        if constraint is None:
            self.conflicts.append(f"{where}: {key} comes from a git/path/url source, not the profile's {key} {version}")
            return
        try:
            if poetry_admits(str(constraint), version):
                return
            new = widen_poetry(str(constraint), version)
        except ConstraintError as exc:
            self.conflicts.append(f"{where}: {exc}")
            return
        self.changes.append(PinChange(key, where, str(constraint), new, version, str(marker_text) if marker_text else None, "specifier"))
        if isinstance(entry, str):
            if index is None:
                table[key] = _restyle(entry, new)
            else:
                table[key][index] = _restyle(entry, new)
        else:
            entry["version"] = _restyle(constraint, new)

    def _poetry_scope(self, entry: Any) -> bool:
        """Poetry's own `python = "..."` and `platform = "..."` keys narrow where an entry applies."""
        python = entry.get("python")
        platform = entry.get("platform")
        try:
            if python and not poetry_admits(str(python), self.env["python_full_version"]):
                return False
        except ConstraintError:
            return True  # unreadable scope: judge the entry rather than skip it silently
        return not platform or str(platform) == self.env["sys_platform"]

    # [tool.uv.sources]: where uv takes a package from
    def uv_sources(self) -> None:
        sources = _get(self.doc, "tool.uv.sources")
        if not hasattr(sources, "items"):
            return
        for key, value in list(sources.items()):
            name = _canon(key)
            if name not in self.targets or name not in self.index_urls:
                continue
            entries = list(value) if isinstance(value, list) else [value]
            keep = []
            for j, entry in enumerate(entries):
                where = f"tool.uv.sources.{key}" + (f"[{j}]" if isinstance(value, list) else "")
                keep.append(self._uv_source(key, entry, where))
            if not all(keep):
                self._drop_sources(sources, key, value, keep)

    def _uv_source(self, key: str, entry: Any, where: str) -> bool:
        """Judge one source entry; returns False when it must go (the profile uses the default index)."""
        if not hasattr(entry, "get"):
            return True
        marker = entry.get("marker")
        if marker and not _marker_applies(Marker(str(marker)), self.env):
            return True
        want = self.index_urls[_canon(key)]
        version = self.targets[_canon(key)]
        if "index" not in entry:
            kind = next((k for k in ("git", "url", "path", "workspace") if k in entry), "another source")
            self.conflicts.append(f"{where}: {key} comes from {kind} {entry.get(kind)!s}, not the profile's {key} {version}")
            return True
        indexes = self._indexes()
        have = indexes.get(str(entry["index"]))
        if have is not None and _same_url(have, want):
            return True
        old = f"index = {str(entry['index'])!r}" + (f" ({have})" if have else "")
        marker_s = str(marker) if marker else None
        if want is None:
            self.changes.append(PinChange(key, where, old, "(removed: the default index)", str(version), marker_s, "index-source"))
            return False
        new_name = self._index_for(want)
        entry["index"] = _restyle(entry["index"], new_name)
        self.changes.append(PinChange(key, where, old, f"index = {new_name!r} ({want})", str(version), marker_s, "index-source"))
        return True

    def _drop_sources(self, sources: Any, key: str, value: Any, keep: list[bool]) -> None:
        if not isinstance(value, list) or not any(keep):
            del sources[key]
            return
        for j in reversed(range(len(keep))):
            if not keep[j]:
                del value[j]

    def _indexes(self) -> dict[str, str]:
        found = _get(self.doc, "tool.uv.index") or []
        return {str(t.get("name")): str(t.get("url")) for t in found if hasattr(t, "get") and t.get("name")}

    def _index_for(self, url: str) -> str:
        """The name of an existing [[tool.uv.index]] with this URL, or of one added for it."""
        import tomlkit

        indexes = self._indexes()
        for name, have in indexes.items():
            if _same_url(have, url):
                return name
        base = "envkit-" + (re.sub(r"[^a-z0-9]+", "-", url.rstrip("/").rsplit("/", 1)[-1].lower()).strip("-") or "index")
        name, n = base, 2
        while name in indexes:
            name, n = f"{base}-{n}", n + 1
        table = tomlkit.table()
        table.update({"name": name, "url": url, "explicit": True})
        table.add(tomlkit.nl())  # a blank line before whatever table follows, like its neighbours
        uv = self.doc.setdefault("tool", tomlkit.table(True)).setdefault("uv", tomlkit.table(True))
        if "index" in uv:
            uv["index"].append(table)
        else:
            uv["index"] = tomlkit.aot()
            uv["index"].append(table)
        return name


def _same_url(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.rstrip("/") == b.rstrip("/")


_UV_ARRAYS = ("tool.uv.override-dependencies", "tool.uv.constraint-dependencies",
                    "tool.uv.dev-dependencies")
_TABLE_OF_ARRAYS = ("project.optional-dependencies", "dependency-groups")


def plan_pyproject(text: str, targets: Mapping[str, str | None], marker_env: Mapping[str, str], *,
                   index_urls: Mapping[str, str | None] = {}, source_name: str = "pyproject.toml") -> PinPlan:  # noqa: B006 (read-only)
    """Judge a lerobot pyproject for the target and rewrite the pins that block the tuple.

    `targets`: distribution -> exact version (None: the profile installs none, so a requirement
    that applies on the target is a conflict). `index_urls`: distribution -> the index URL the
    profile takes it from (None: the default index); packages absent from it are not judged
    for their source.
    """
    targets_n, env = _targets(targets), _complete_env(marker_env)
    quick = _quick_parse(text)
    if quick is not None:
        # Judging needs no round-trip: plain tomllib data is ~10x faster to get than a tomlkit
        # document, and most checks end here (edits on the throwaway dicts are discarded).
        planner = _walk(quick, targets_n, env, index_urls, source_name)
        if not planner.changes:
            return PinPlan([], text, planner.conflicts)
    doc = _parse(text, source_name)
    planner = _walk(doc, targets_n, env, index_urls, source_name)
    new_text = doc.as_string() if planner.changes else text
    return PinPlan(planner.changes, new_text, planner.conflicts)


def _quick_parse(text: str) -> dict[str, Any] | None:
    try:
        # resolve parsed this text already; the walk below edits its dict, so it gets a copy (~10x cheaper)
        return copy.deepcopy(loads_cached(text))
    except TOMLDecodeError:
        return None  # tomlkit reports it, with the line and column


def _walk(doc: Any, targets: Mapping[str, str | None], env: Mapping[str, str],
          index_urls: Mapping[str, str | None], source_name: str) -> _Planner:
    planner = _Planner(doc, targets, env, index_urls)
    # File order, so changes read top to bottom.
    planner.string_array(_get(doc, "project.dependencies"), "project.dependencies")
    for dotted in _TABLE_OF_ARRAYS:
        table = _get(doc, dotted)
        for group, array in (table.items() if hasattr(table, "items") else []):
            planner.string_array(array, f"{dotted}.{group}")
    for dotted in _UV_ARRAYS:
        planner.string_array(_get(doc, dotted), dotted)
    for dotted in ("tool.poetry.dependencies", "tool.poetry.dev-dependencies"):
        planner.poetry_table(_get(doc, dotted), dotted)
    groups = _get(doc, "tool.poetry.group")
    for group, body in (groups.items() if hasattr(groups, "items") else []):
        planner.poetry_table(_get(body, "dependencies"), f"tool.poetry.group.{group}.dependencies")
    if not planner.has_torch:
        dynamic = "dependencies" in (_get(doc, "project.dynamic") or [])
        raise EnvkitError(
            f"{source_name} declares no torch requirement"
            + (" (its [project] dependencies are dynamic)" if dynamic else "")
            + ", so it is not a lerobot pyproject envkit can pin",
            fix="point --lerobot at lerobot's own pyproject.toml (a fork may keep it in a subfolder, e.g. repo/lerobot/)",
        )
    planner.uv_sources()
    return planner


def unified_diff(old: str, new: str, name: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))
