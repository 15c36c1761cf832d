"""Write a recorded scenario directory: the host boundary's answers in the layout
`envkit.host.RecordedBoundary` replays, plus meta.toml saying how it was recorded.

Everything is staged in a sibling temp directory and renamed into place at the end, so a
recording killed half-way never leaves half a scenario, and a directory envkit did not record
is never overwritten.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import stat
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from envkit import __version__
from envkit.accel.registry import all_backends
from envkit.errors import EnvkitError
from envkit.host import RecordedBoundary, detect
from envkit.hostfacts import HostFacts
from envkit.record.boundary import Capture, RecordingBoundary
from envkit.record.redact import Redactor

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

META = "meta.toml"
LISTING = ".envkit-files.json"  # what envkit wrote into the recording: a re-record never loses anything else


class ScenarioDir:
    """A scenario being written: files go to a staging directory until `commit()`."""

    def __init__(self, target: Path) -> None:
        self.target = Path(target).absolute()
        check_target(self.target)
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.stage = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".recording", dir=self.target.parent))
        except OSError as exc:
            raise EnvkitError(f"--record {self.target}: cannot create it: {exc.strerror or exc}",
                              fix="pass a directory in a writable place, e.g. --record ./envkit-scenario") from None
        self.written: list[str] = []

    def write(self, rel: str, text: str) -> Path:
        path = self.stage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.written.append(rel)
        return path

    def write_json(self, rel: str, data: Any) -> Path:
        return self.write(rel, json.dumps(data, indent=2, sort_keys=False) + "\n")

    def mkdir(self, rel: str) -> None:
        (self.stage / rel).mkdir(parents=True, exist_ok=True)

    def commit(self) -> Path:
        check_target(self.target)  # again: the target may have changed while the facts were gathered
        listing = sorted({*self.written, *(str(p.relative_to(self.stage)) for p in self.stage.rglob("*") if not p.is_dir())})
        (self.stage / LISTING).write_text(json.dumps(listing, indent=0) + "\n", encoding="utf-8")
        old = None
        if self.target.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".replaced", dir=self.target.parent))
            self.target.rename(old / "r")
        self.stage.chmod(0o755)  # mkdtemp made it private; a recording is meant to be shared
        self.stage.rename(self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target

    def abort(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISREG, "a file"))


def _kind(path: Path) -> str | None:
    """None for a real directory or nothing at all; else what is there (never following a link, never opening it)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a directory")


def check_target(target: Path) -> None:
    """Only regular files and directories are ever written: a device, FIFO, socket or link as DIR (or
    above it) is refused; so is a directory envkit did not record, or a recording the user added files to."""
    for path in [*reversed(target.parents), target]:
        kind = _kind(path)
        if kind is not None:
            where = "" if path == target else f" (its parent {path})"
            raise EnvkitError(f"--record {target}{where}: is {kind}, not a directory; envkit writes only regular files "
                              f"and directories and never replaces anything else",
                              fix="pass a new directory name, e.g. --record ./envkit-scenario")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not is_envkit_recording(target):
        raise EnvkitError(
            f"--record {target}: the directory is not empty and is not an earlier envkit recording",
            fix="pass a new directory (envkit only replaces a directory it recorded itself)",
        )
    added = _added_files(target)
    if added:
        shown = ", ".join(added[:10]) + (f" and {len(added) - 10} more" if len(added) > 10 else "")
        raise EnvkitError(f"--record {target}: this earlier recording holds files envkit did not write ({shown}); "
                          f"recording again would replace the directory and lose them",
                          fix=f"move those files out of {target}, or pass a new directory to --record")


def _added_files(target: Path) -> list[str]:
    """Entries (not directories) in an earlier recording that its listing does not name."""
    try:
        listed = set(json.loads((target / LISTING).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return []  # a recording from before the listing: nothing to tell envkit's files from the user's
    found = []
    for path in sorted(target.rglob("*")):
        rel = str(path.relative_to(target))
        if rel != LISTING and (path.is_symlink() or not path.is_dir()) and rel not in listed:
            found.append(rel)
    return found


def is_envkit_recording(path: Path) -> bool:
    try:
        meta = tomllib.loads((path / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("recorded") is True and (meta.get("recording") or {}).get("tool") == "envkit"


# --- the host boundary -------------------------------------------------------------------


def write_host_boundary(out: ScenarioDir, capture: Capture, env: dict[str, str], redactor: Redactor) -> None:
    """system.json, <reading>.json (e.g. nvml.json), env.json, which.json, commands/, files/: what RecordedBoundary reads."""
    r = redactor
    if capture.system is not None:
        out.write_json("system.json", r.data(dataclasses.asdict(capture.system), "system.json"))
    for name, reading in capture.readings.items():
        out.write_json(f"{name}.json", reading)
    out.write_json("env.json", r.data(env, "env.json"))
    out.write_json("which.json", r.data({k: v for k, v in sorted(capture.which.items()) if v}, "which.json"))
    for argv, result in capture.commands.items():
        if result is None:
            continue  # the program could not be started: a replay answers None for a missing file
        name = "_".join([PurePosixPath(argv[0]).name, *argv[1:]])
        if "/" in name or name.startswith("."):
            continue
        out.write(f"commands/{name}.txt", r.text(result.stdout, f"commands/{name}.txt"))
        if result.returncode != 0:
            out.write(f"commands/{name}.rc", f"{result.returncode}\n")
    _write_files(out, capture, r)


def _write_files(out: ScenarioDir, capture: Capture, r: Redactor) -> None:
    """files/<absolute path>: contents for what was read, empty files for what only exists
    (device nodes, binaries), directories for what exists but could not be read as text."""
    content: dict[str, str] = {}
    present: set[str] = set()
    unreadable: set[str] = set()
    for path, text in capture.texts.items():
        if text is not None:
            content[path] = text
    for path, found in capture.exists.items():
        if found:
            present.add(path)
    for paths in capture.globs.values():
        present.update(paths)
    for path in present:
        if path not in content and capture.texts.get(path, "") is None:
            unreadable.add(path)  # it exists, yet reading it failed: a directory or no permission
    mirror: dict[str, str | None] = {}
    for path in sorted(present | set(content)):
        rel = _mirror_rel(r.text(path, "files/"))
        if rel is None:
            continue
        if path in content:
            mirror[rel] = r.text(content[path], f"files/{rel}")
        elif path in unreadable:
            mirror[rel] = None
        else:
            mirror.setdefault(rel, "")
    dirs = {str(PurePosixPath(rel).parent) for rel in mirror} - {"."}
    for rel, text in sorted(mirror.items()):
        is_parent = any(d == rel or d.startswith(rel + "/") for d in dirs)
        if text is None or (is_parent and text == ""):
            out.mkdir(f"files/{rel}")
            if text is None and not is_parent:
                out.write(f"files/{rel}/.keep", "")  # git drops empty directories
        else:
            out.write(f"files/{rel}", text)


def _mirror_rel(path: str) -> str | None:
    p = PurePosixPath(path)
    if not p.is_absolute() or ".." in p.parts or len(p.parts) < 2:
        return None
    return str(p.relative_to("/"))


# --- meta.toml -----------------------------------------------------------------------------


def describe(facts: HostFacts) -> str:
    """One line for humans: platform, distro, accelerators."""
    parts = [facts.platform, facts.os.distro or facts.os.system]
    # the first accelerator (in the registry's order) with something to say
    parts.append(next((said for b in all_backends() if (said := b.describe(facts))), "no GPU/NPU"))
    return ", ".join(parts) + f" (suggested profile {facts.suggested_profile})"


def write_meta(out: ScenarioDir, *, scenario: str, command: str, kind: str, redactor: Redactor,
               replay_matches: bool, extra: dict[str, Any] | None = None) -> None:
    import tomlkit

    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"RECORDED on a real machine by `envkit {kind} --record`; not transcribed."))
    doc["scenario"] = scenario
    doc["recorded"] = True
    doc["transcribed"] = False
    rec = tomlkit.table()
    rec["tool"] = "envkit"
    rec["envkit_version"] = __version__
    rec["command"] = command
    rec["date"] = now_utc()
    rec["replay_matches"] = replay_matches
    rec["left_out"] = redactor.left_out()
    for key, value in (extra or {}).items():
        rec[key] = value
    doc["recording"] = rec
    out.write(META, tomlkit.dumps(doc))


def now_utc() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- the whole host recording --------------------------------------------------------------


def record_host(out: ScenarioDir, boundary: RecordingBoundary, facts: HostFacts, redactor: Redactor) -> tuple[dict[str, Any], bool]:
    """Write the boundary's answers and host.json (the live facts, redacted); replay them at once
    from the staging directory and say whether the replay gives the same facts."""
    write_host_boundary(out, boundary.capture, boundary.env_snapshot(), redactor)
    live = redactor.data(facts.to_dict(), "host.json")
    out.write_json("host.json", live)
    replayed = detect(RecordedBoundary(out.stage)).to_dict()
    return live, replayed == live


def command_line(argv: list[str], redactor: Redactor) -> str:
    return redactor.text(" ".join(shlex.quote(a) for a in ["envkit", *argv]), "meta.toml")
