"""The SRC grammar every command shares for "which lerobot": an index requirement, a git URL, or a path.

    lerobot==0.4.2            a PEP 508 requirement (extras and ranges allowed)
    lerobot @ git+https://github.com/huggingface/lerobot@58f70b6
    git+https://...@<ref>     shorthand for the line above
    ./lerobot  /src/kuavo     a clone, a fork, a fork with lerobot in a subfolder, or its pyproject.toml
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from envkit.errors import EnvkitError
from envkit.tomltext import loads_cached

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_GRAMMAR = "'lerobot==0.4.4', 'lerobot @ git+https://HOST/ORG/lerobot@COMMIT', or the path of a lerobot source tree"


@dataclass(frozen=True)
class LerobotSource:
    kind: str  # "pypi" | "git" | "path"
    text: str
    requirement: str | None = None  # PEP 508 form, for "pypi" and "git"
    specifier: str = ""  # version specifier of a "pypi" requirement
    extras: tuple[str, ...] = ()
    url: str | None = None  # git URL without the ref
    ref: str | None = None  # git commit / tag
    path: Path | None = None  # project directory (where pyproject.toml is)
    pyproject: Path | None = None
    # A tree's pyproject.toml as read when the source was parsed (newlines kept): the resolver and
    # the pins plan judge this text, so they do no file I/O themselves. Not part of the JSON.
    pyproject_text: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "text": self.text,
            "requirement": self.requirement,
            "url": self.url,
            "ref": self.ref,
            "path": str(self.path) if self.path else None,
            "pyproject": str(self.pyproject) if self.pyproject else None,
        }

    def tag_version(self) -> str | None:
        """A git ref like 'v0.4.2' names its version; a bare commit does not."""
        if self.ref and re.fullmatch(r"v?\d+\.\d+\.\d+", self.ref):
            return self.ref.lstrip("v")
        return None


def find_pyproject(path: Path) -> Path:
    """A clone, a fork with lerobot in a subfolder (repo/lerobot/pyproject.toml), or the file itself."""
    if path.is_file():
        if path.name != "pyproject.toml":
            raise EnvkitError(f"{path} is a file but not a pyproject.toml", fix="pass the lerobot source directory or its pyproject.toml")
        return path
    if not path.is_dir():
        raise EnvkitError(f"The lerobot path {path} does not exist", fix="check the path (a lerobot clone, a fork, or its pyproject.toml)")
    direct = path / "pyproject.toml"
    nested = path / "lerobot" / "pyproject.toml"
    # A fork may keep its own pyproject at the top and lerobot's one level down (the Kuavo layout);
    # the file that declares the lerobot project is the one that matters.
    for candidate in (direct, nested):
        if candidate.is_file() and _declares_lerobot(candidate):
            return candidate
    for candidate in (direct, nested):
        if candidate.is_file():
            return candidate
    raise EnvkitError(
        f"No pyproject.toml at {path} (looked at {direct} and {nested})",
        fix="pass the directory that holds lerobot's pyproject.toml, or the file itself",
    )


def _declares_lerobot(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    name = data.get("project", {}).get("name") or data.get("tool", {}).get("poetry", {}).get("name")
    return isinstance(name, str) and name.replace("_", "-").lower() == "lerobot"


_COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")
_TAG = re.compile(r"v?\d+(\.\d+)+([._-]?(a|b|rc|post|dev)\d*)*")
ALLOW_BRANCH_VAR = "ENVKIT_ALLOW_BRANCH"  # set by --allow-branch for the whole invocation (and its children)


def ref_kind(ref: str) -> str:
    """'commit', 'tag' or 'branch': without the network a ref that is neither a hash nor a version is taken for a branch."""
    if _COMMIT.fullmatch(ref):
        return "commit"
    if _TAG.fullmatch(ref):
        return "tag"
    return "branch"


def branch_allowed() -> bool:
    return os.environ.get(ALLOW_BRANCH_VAR) == "1"


def parse_source(text: str) -> LerobotSource:
    text = text.strip()
    if not text:
        raise EnvkitError("The lerobot source is empty", fix=f"pass {_GRAMMAR}")
    candidate = Path(text).expanduser()
    if candidate.exists():
        pyproject = find_pyproject(candidate)
        try:
            with open(pyproject, encoding="utf-8", newline="") as handle:
                body = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise EnvkitError(f"Cannot read {pyproject}: {exc}", fix="make it a readable UTF-8 file") from None
        return LerobotSource("path", text, path=pyproject.parent.resolve(), pyproject=pyproject.resolve(), pyproject_text=body)
    if text.startswith(("/", "./", "../", "~")) or text.endswith(".toml"):
        raise EnvkitError(f"The lerobot path {text} does not exist", fix="check the path (a lerobot clone, a fork, or its pyproject.toml)")
    if text.startswith("git+"):
        text_req = f"lerobot @ {text}"
    else:
        text_req = text

    try:
        req = Requirement(text_req)
    except InvalidRequirement as exc:
        raise EnvkitError(f"Cannot parse the lerobot source {text!r}: {exc}", fix=f"pass {_GRAMMAR}") from None
    if req.name.replace("_", "-").lower() != "lerobot":
        raise EnvkitError(f"The source {text!r} names {req.name!r}, not lerobot", fix=f"pass {_GRAMMAR}")
    extras = tuple(sorted(req.extras))
    if req.url:
        if not req.url.startswith("git+"):
            raise EnvkitError(f"The lerobot URL {req.url!r} is not a git URL", fix="use git+https://HOST/ORG/lerobot@COMMIT, or download it and pass the path")
        url, _, ref = req.url[len("git+"):].rpartition("@")
        if not url or "/" in ref or not ref:
            raise EnvkitError(f"The git source {text!r} does not name a commit or tag", fix="append @<commit> so the environment is reproducible")
        if ref_kind(ref) == "branch" and not branch_allowed():
            raise EnvkitError(
                f"The git source {text!r} names {ref!r}, which is neither a commit hash (7-40 hex digits) nor a version tag "
                f"(v1.2.3): a branch moves, so the same command would build a different environment tomorrow",
                fix=f"pin the commit it points at now (git ls-remote {url} {ref}), or pass --allow-branch to accept a moving ref")
        return LerobotSource("git", text, requirement=str(req), extras=extras, url=url, ref=ref)
    return LerobotSource("pypi", text, requirement=str(req), specifier=str(req.specifier), extras=extras)


def parse_project(text: str, pyproject: Path) -> dict:
    """Parse a pyproject.toml's text (read already), naming the file and the line/column of a syntax error."""
    try:
        return loads_cached(text)
    except tomllib.TOMLDecodeError as exc:
        raise EnvkitError(f"{pyproject} is not valid TOML: {exc}", fix="correct the TOML syntax at that line and column") from None


def read_project(pyproject: Path, text: str | None = None) -> dict:
    """Parse a lerobot pyproject.toml (or its `text`, already read), with the line/column of a syntax error."""
    if text is not None:
        return parse_project(text, pyproject)
    try:
        return loads_cached(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise EnvkitError(f"{pyproject} is not valid TOML: {exc}", fix="correct the TOML syntax at that line and column") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvkitError(f"{pyproject} cannot be read: {exc}", fix="make it a readable UTF-8 file") from None


def project_version(pyproject: Path, text: str | None = None) -> str:
    """The version a lerobot tree declares (PEP 621 or Poetry); forks with a dynamic version fail clearly."""
    data = read_project(pyproject, text)
    version = data.get("project", {}).get("version") or data.get("tool", {}).get("poetry", {}).get("version")
    if not isinstance(version, str):
        raise EnvkitError(
            f"Cannot read the lerobot version of {pyproject}: neither [project] version nor [tool.poetry] version is a string"
            + (" (the version is dynamic)" if "version" in data.get("project", {}).get("dynamic", []) else ""),
            fix="set a static version = \"X.Y.Z\" in the fork's pyproject.toml, or pass --lerobot lerobot==X.Y.Z",
        )
    try:
        Version(version)
    except InvalidVersion:
        raise EnvkitError(f"{pyproject}: version {version!r} is not a PEP 440 version", fix="set version = \"X.Y.Z\"") from None
    return version
