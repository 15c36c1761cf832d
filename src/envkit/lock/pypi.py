"""The PyPI layer: `uv pip compile` per platform, with hashes, against the profile's indexes.

Why uv: conda-lock's pip solver cannot lock torch 2.8 on linux (no manylinux_2_27 tag, conda-lock
#395) and takes 37-70 s when patched; uv locks the same set in ~3 s. Two outputs per platform:
uv's requirements.txt with hashes (what `uv pip install --require-hashes` installs; name==version
so a local wheel with the same sha256 still satisfies it) and pylock.toml, read only for the one
wheel URL per package that conda-lock.yml's pip entries need.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging import tags
from packaging.utils import parse_wheel_filename

from envkit import secrets
from envkit.errors import EnvkitError, StepFailed
from envkit.fsutil import file_digest
from envkit.pipconfig import read_pip_config
from envkit.uvbin import find_uv as _find

if TYPE_CHECKING:
    from envkit.resolve import Resolved

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYTHON_PLATFORM = {"linux-64": "x86_64-manylinux_2_28", "linux-aarch64": "aarch64-manylinux_2_28"}
GLIBC_MINOR = 28  # the manylinux_2_28 floor both target platforms are locked for
PROBE_TIMEOUT_S = 5.0
# uv settings that would change where packages come from: a lock must not depend on this machine.
_UV_SOURCE_VARS = ("UV_INDEX", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS",
                   "UV_NO_INDEX", "UV_INDEX_STRATEGY", "UV_EXCLUDE_NEWER", "UV_CONSTRAINT", "UV_OVERRIDE",
                   "UV_BUILD_CONSTRAINT", "UV_CONFIG_FILE", "UV_PRERELEASE", "UV_RESOLUTION", "UV_TORCH_BACKEND")


class Unreachable(StepFailed):
    """An index or channel did not answer: `lock --skip-unreachable` reports it and goes on."""


@dataclass(frozen=True)
class PipPackage:
    name: str
    version: str
    url: str
    sha256: str
    dependencies: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PypiLock:
    platform: str
    requirements_txt: str  # uv's output, byte for byte
    packages: list[PipPackage]
    seconds: float
    find_links: tuple[str, ...] = ()
    lerobot_sdist: dict[str, str] | None = None  # {version, url, sha256}: what a patched lerobot is built from


def find_uv() -> str:
    return _find()


def uv_version(uv: str | None = None) -> str:
    """'0.13.9': the host triple uv prints after it is dropped, so CI on another arch agrees."""
    out = subprocess.run([uv or find_uv(), "--version"], capture_output=True, text=True, check=False)
    words = out.stdout.split()
    return words[1] if len(words) >= 2 else "unknown"


def normalize_date(text: str) -> str:
    """'2026-11-01' -> '2026-11-01T00:00:00Z' (uv and rattler take the full RFC 3339 form)."""
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        return text + "T00:00:00Z"
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text):
        return text
    raise EnvkitError(f"--exclude-newer {text!r} is not a date", fix="pass a date like 2026-11-01 or 2026-11-01T00:00:00Z")


def wheel_hashes(wheels: Path) -> dict[str, str]:
    """file name -> sha256 of the wheels a --wheels DIR offers (recorded in the manifest)."""
    if not wheels.is_dir():
        raise EnvkitError(f"--wheels {wheels} is not a directory", fix="pass the directory holding the downloaded wheels")
    out = {}
    for path in sorted(wheels.glob("*.whl")):
        out[path.name] = file_digest(path)
    if not out:
        raise EnvkitError(f"--wheels {wheels} holds no .whl files", fix="download the wheels the profile's extra indexes serve into it")
    return out


def probe_index(name: str, url: str, package: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None if the index answers at all; otherwise why not. Only network failures count: an HTTP
    error or a TLS complaint means a server is there, and uv will report the details."""
    target = url.rstrip("/") + f"/{package}/"
    if target.startswith("file://"):
        return None if Path(target[7:]).parent.exists() else f"{target} does not exist"
    try:
        with urllib.request.urlopen(secrets.http_request(target, "HEAD"), timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except ValueError as exc:  # http.client.InvalidURL: a URL urllib cannot open (its text is redacted on output)
        return f"{type(exc).__name__}: {exc}"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.gaierror, socket.timeout, TimeoutError, ConnectionError, OSError)) and not _is_tls(reason):
            return f"{type(reason).__name__}: {reason}"
        return None
    except (socket.timeout, TimeoutError, ConnectionError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _is_tls(reason: object) -> bool:
    return isinstance(reason, ssl.SSLError)


def _unreachable(profile: str, platform: str, index: dict[str, Any], why: str) -> Unreachable:
    return Unreachable(
        f"Cannot lock the PyPI layer of profile '{profile}' for {platform}: index '{index['name']}' ({index['url']}), "
        f"which serves {', '.join(index['packages'])}, is unreachable from this machine ({why})",
        fix=f"lock on a connected machine or CI (envkit lock --profile {profile} --platform {platform} --layer pypi), or "
            f"download those wheels there and pass --wheels DIR; other platforms lock without it "
            f"(e.g. --platform {'linux-aarch64' if platform == 'linux-64' else 'linux-64'})",
    )


def _environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _UV_SOURCE_VARS}
    env["UV_PYTHON_DOWNLOADS"] = "never"  # resolving for a --python-version never needs an interpreter download

    env.update(read_pip_config().uv_env())  # the trust pip has (its cert, the system store)
    env.setdefault("UV_HTTP_TIMEOUT", "30")
    return env


def _write_inputs(work: Path, resolved: "Resolved", indexes: list[dict[str, Any]]) -> list[str]:
    """The compile inputs; explicit indexes need uv's [tool.uv.sources], so a pyproject then."""
    (work / "overrides.txt").write_text("".join(f"{r}\n" for r in resolved.overrides))
    explicit = [i for i in indexes if i.get("explicit", True)]
    if not explicit:
        (work / "requirements.in").write_text("".join(f"{r}\n" for r in resolved.requirements))
        args = ["requirements.in"]
    else:
        deps = ", ".join(f'"{r}"' for r in resolved.requirements)
        lines = ["[project]", f'name = "envkit-lock-{_slug(resolved.profile)}"', 'version = "0"',
                 f'requires-python = ">={resolved.python}"', f"dependencies = [{deps}]", "", "[tool.uv.sources]"]
        lines += [f'{pkg} = {{ index = "{i["name"]}" }}' for i in explicit for pkg in i["packages"]]
        for i in explicit:
            lines += ["", "[[tool.uv.index]]", f'name = "{i["name"]}"', f'url = "{secrets.url_credentials(i["url"])[0]}"', "explicit = true"]
        (work / "pyproject.toml").write_text("\n".join(lines) + "\n")
        args = ["pyproject.toml"]
    for i in indexes:
        if not i.get("explicit", True):
            args += ["--extra-index-url", i["url"]]
    return args + ["--override", "overrides.txt"]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "profile"


def compile_platform(resolved: "Resolved", exclude_newer: str, wheels: Path | None = None, uv: str | None = None) -> PypiLock:
    """Lock resolved.requirements (+ overrides) for resolved.platform; StepFailed names what failed."""
    uv = uv or find_uv()
    platform = resolved.platform
    indexes = list(resolved.indexes)
    find_links: tuple[str, ...] = ()
    if wheels is not None:
        # The wheels stand in for the extra indexes (unreachable here): uv hashes the given files.
        indexes = []
        find_links = (str(wheels.resolve()),)
    for index in indexes:
        why = probe_index(index["name"], index["url"], index["packages"][0] if index.get("packages") else "torch")
        if why:
            raise _unreachable(resolved.profile, platform, index, why)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="envkit-lock-") as tmp:
        work = Path(tmp)
        inputs = _write_inputs(work, resolved, indexes)
        base = [uv, "pip", "compile", *inputs, "--no-config", "--python-version", resolved.python,
                "--python-platform", PYTHON_PLATFORM[platform], "--exclude-newer", exclude_newer,
                "--no-header", "--generate-hashes", "--quiet"]
        for link in find_links:
            base += ["--find-links", link]
        _run(base + ["-o", "requirements.txt"], work, resolved, indexes)
        # The same resolution again, for wheel URLs: the cache was refreshed a moment ago, so offline.
        _run(base + ["--offline", "--format", "pylock.toml", "-o", "pylock.toml"], work, resolved, indexes)
        text = (work / "requirements.txt").read_text()
        pylock = tomllib.loads((work / "pylock.toml").read_text())
    packages = _packages(pylock, text, platform, resolved.python)
    return PypiLock(platform, text, packages, time.monotonic() - started, find_links, sdist_of(pylock, "lerobot"))


def sdist_of(pylock: dict[str, Any], name: str) -> dict[str, str] | None:
    """The locked source archive of one package (a profile that patches lerobot builds it from this)."""
    for p in pylock.get("packages", []):
        sdist = p.get("sdist")
        if p.get("name", "").lower() == name and sdist and sdist.get("hashes", {}).get("sha256"):
            return {"version": p.get("version", ""), "url": _location(sdist), "sha256": sdist["hashes"]["sha256"]}
    return None


def _run(argv: list[str], cwd: Path, resolved: "Resolved", indexes: list[dict[str, Any]]) -> None:
    # index credentials through uv's environment and a private netrc, never argv or the pyproject
    named = [(i["name"], i["url"]) for i in indexes if i.get("explicit", True)]
    with secrets.child_credentials(argv, _environ(), named) as (child_argv, env):
        proc = subprocess.run(child_argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return
    err = proc.stderr.strip()
    failed = re.search(r"Failed to fetch: `?(\S+?)`?$", err, re.M)
    if failed:
        for index in indexes:
            if failed.group(1).startswith(secrets.url_credentials(index["url"])[0].rstrip("/")):
                raise _unreachable(resolved.profile, resolved.platform, index, err.splitlines()[-1].strip())
    tail = " ".join(err.splitlines()[-12:])
    raise StepFailed(
        f"uv could not lock the PyPI layer of profile '{resolved.profile}' for {resolved.platform} "
        f"(Python {resolved.python}): {tail}",
        fix="if an index is unreachable, lock on a connected machine; if it is a conflict, check the profile's pins "
            "(envkit resolve --profile ... --platform ...) or move [lock] exclude_newer",
    )


# -- the wheel conda-lock.yml records per package ---------------------------------------------


def target_tags(platform: str, python: str) -> list[str]:
    """Wheel tags the target accepts, best first (CPython, manylinux_2_28 and older)."""
    arch = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}[platform]
    plats = [f"manylinux_2_{m}_{arch}" for m in range(GLIBC_MINOR, 16, -1)] + [f"manylinux2014_{arch}"]
    if arch == "x86_64":
        plats += [f"manylinux_2_{m}_{arch}" for m in range(16, 4, -1)] + [f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    plats.append(f"linux_{arch}")
    version = tuple(int(p) for p in python.split(".")[:2])
    ordered = list(tags.cpython_tags(version, platforms=plats)) + list(tags.compatible_tags(version, "cp" + "".join(map(str, version)), plats))
    return [str(t) for t in ordered]


def _best_wheel(wheels: list[dict[str, Any]], rank: dict[str, int]) -> dict[str, Any] | None:
    best, best_rank = None, len(rank)
    for wheel in wheels:
        name = (wheel.get("url") or wheel.get("path") or wheel.get("name", "")).rsplit("/", 1)[-1]
        try:
            _, _, _, wtags = parse_wheel_filename(name)
        except Exception:  # noqa: BLE001 - a file name that is not a wheel's cannot be chosen
            continue
        r = min((rank.get(str(t), len(rank)) for t in wtags), default=len(rank))
        if r < best_rank:
            best, best_rank = wheel, r
    return best


def _location(entry: dict[str, Any]) -> str:
    if entry.get("url"):
        return entry["url"]
    return Path(entry["path"]).resolve().as_uri()


def pinned(requirements_txt: str) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a uv requirements file with hashes (comments ignored)."""
    out: dict[str, tuple[str, frozenset[str]]] = {}
    name = None
    for line in requirements_txt.replace("\\\n", " ").splitlines():
        head = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)", line)
        if head:
            name = re.sub(r"[-_.]+", "-", head.group(1)).lower()
            out[name] = (head.group(2), frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", line)))
    return out


def package_diff(locked_txt: str, again_txt: str) -> list[str]:
    """What differs between two locks of the same inputs, one phrase per package ([] = the same packages)."""
    old, new = pinned(locked_txt), pinned(again_txt)
    out = []
    for name in sorted(set(old) | set(new)):
        if name not in new:
            out.append(f"{name} {old[name][0]} dropped")
        elif name not in old:
            out.append(f"{name} {new[name][0]} added")
        elif old[name][0] != new[name][0]:
            out.append(f"{name} {old[name][0]} -> {new[name][0]}")
        elif old[name][1] != new[name][1]:
            out.append(f"{name} {old[name][0]}: other file hashes")
    return out


def _via_graph(requirements_txt: str, versions: dict[str, str]) -> dict[str, dict[str, str]]:
    """parent -> {child: '==version'} from uv's '# via' annotations (conda-lock records the edges)."""
    deps: dict[str, dict[str, str]] = {}
    current = None
    in_via = False
    for line in requirements_txt.splitlines():
        head = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[.*\])?==", line)
        if head:
            current, in_via = head.group(1).lower(), False
            continue
        stripped = line.strip()
        if current is None or not stripped.startswith("#"):
            continue
        body = stripped.lstrip("#").strip()
        if body.startswith("via"):
            in_via = True
            body = body[3:].strip()
        if not in_via or not body:
            continue
        for parent in body.split(","):
            parent = parent.strip()
            if parent and not parent.startswith(("-r", "--", "envkit-lock")) and " " not in parent:
                deps.setdefault(parent.lower(), {})[current] = f"=={versions.get(current, '')}".rstrip("=")
    return deps


def _packages(pylock: dict[str, Any], requirements_txt: str, platform: str, python: str) -> list[PipPackage]:
    rank = {t: i for i, t in enumerate(target_tags(platform, python))}
    versions = {p["name"].lower(): p.get("version", "") for p in pylock.get("packages", [])}
    graph = _via_graph(requirements_txt, versions)
    out = []
    for p in pylock.get("packages", []):
        chosen = _best_wheel(p.get("wheels", []), rank) or p.get("sdist")
        if chosen is None:
            raise StepFailed(f"uv's lock for {platform} lists {p['name']} {p.get('version')} without a wheel for "
                             f"Python {python} on {platform} or an sdist", fix="report this; the lock cannot be installed")
        sha = chosen.get("hashes", {}).get("sha256", "")
        out.append(PipPackage(p["name"], p.get("version", ""), _location(chosen), sha,
                              dict(sorted(graph.get(p["name"].lower(), {}).items()))))
    return out
