"""A minimal Debian 13 (trixie) root to run envkit in as a user of a fresh server would (root only).

Reusable by any test: `root = debian_root()` builds (once per machine) or reuses a pristine
debootstrap root holding only `python3 python3-venv make git ca-certificates`, and
`root.session(name)` gives a writable copy-on-write view of it (overlayfs) whose changes live in
the cache until `session.reset()`. `session.run(argv_or_script, cwd=..., timeout=...)` runs a
command there under chroot with a clean environment.

Why this shape:
- debootstrap takes minutes and torch for Python 3.13 is several GB: the pristine root, the uv,
  pip and apt caches live under ${ENVKIT_TEST_CACHE:-/var/cache/envkit-tests} and are shared by
  every session and every CI run on one machine; a fresh machine builds them.
- Each command runs in its own mount namespace (`unshare -m`): the overlay and the bind mounts
  of /proc, /dev, /sys and the caches vanish with it, so a killed test leaves no mount behind.
- The host's CA bundle is copied in before every command: this project's network intercepts TLS
  with a CA that only the host's bundle holds (a lab's network does the same).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SUITE = "trixie"
PACKAGES = ("python3", "python3-venv", "make", "git", "ca-certificates")
MIRROR = "http://deb.debian.org/debian"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# Inside the root: where the shared caches appear, and the environment every command starts from.
UV_CACHE = "/var/cache/envkit-uv"
PIP_CACHE = "/root/.cache/pip"
APT_ARCHIVES = "/var/cache/apt/archives"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def cache_dir() -> Path:
    return Path(os.environ.get("ENVKIT_TEST_CACHE") or "/var/cache/envkit-tests")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a login shell on a fresh server has, plus the shared uv cache (a cache only: same results)."""
    env = {"HOME": "/root", "PATH": CLEAN_PATH, "LANG": "C.UTF-8", "TERM": "dumb", "USER": "root",
           "UV_CACHE_DIR": UV_CACHE}
    env.update(extra or {})
    return env


def unavailable() -> str | None:
    """Why a Debian root cannot be built or entered here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, mounts)"
    for tool in ("unshare", "chroot", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if shutil.which("debootstrap") is None and shutil.which("apt-get") is None:
        return "neither debootstrap nor apt-get (to install it) is available"
    return None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # two test workers never debootstrap the same root
        yield


def _ensure_debootstrap() -> str:
    found = shutil.which("debootstrap")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"], check=True, env=env)
    return shutil.which("debootstrap") or "/usr/sbin/debootstrap"


@dataclass(frozen=True)
class DebianRoot:
    """A pristine root: never written to after it is built (sessions write to their own layer)."""

    path: Path
    cache: Path
    build_seconds: float  # 0 when it was reused

    def session(self, name: str) -> Session:
        return Session(self, self.cache / "sessions" / name)


def debian_root(suite: str = SUITE, packages: Sequence[str] = PACKAGES) -> DebianRoot:
    """Build (or reuse) the pristine root for `suite` with `packages` under cache_dir()."""
    cache = cache_dir()
    key = f"{suite}-" + "-".join(sorted(packages))
    root = cache / "roots" / key
    marker = root.parent / f"{key}.json"
    with _locked(cache / "roots" / f"{key}.lock"):
        if marker.is_file() and (root / "usr/bin/python3").exists():
            return DebianRoot(root, cache, 0.0)
        started = time.monotonic()
        debootstrap = _ensure_debootstrap()
        partial = root.with_name(key + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([debootstrap, "--variant=minbase", f"--include={','.join(packages)}", suite, str(partial), MIRROR],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Keep the root pristine and small: debootstrap leaves its downloaded .debs behind.
        for deb in (partial / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        partial.rename(root)
        seconds = time.monotonic() - started
        marker.write_text(json.dumps({"suite": suite, "packages": list(packages), "mirror": MIRROR, "seconds": round(seconds, 1)}))
        return DebianRoot(root, cache, seconds)


@dataclass(frozen=True)
class Session:
    """A writable view of a DebianRoot: an overlay whose upper layer persists under `dir`."""

    root: DebianRoot
    dir: Path

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    def reset(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def host_path(self, inside: str) -> Path:
        """Where a file written inside the root lives on the host (only while no command runs, read it)."""
        return self.upper / inside.lstrip("/")

    def _mount_script(self, merged: Path) -> str:
        shared = self.root.cache / "shared"
        binds = {shared / "uv": UV_CACHE, shared / "pip": PIP_CACHE, shared / "apt-archives": APT_ARCHIVES}
        lines = ["set -e", "mount --make-rprivate /",
                 f"mount -t overlay overlay -o lowerdir={self.root.path},upperdir={self.upper},workdir={self.dir / 'work'} {merged}",
                 f"mount -t proc proc {merged}/proc", f"mount --rbind /dev {merged}/dev", f"mount --rbind /sys {merged}/sys",
                 f"mkdir -p {merged}/etc/ssl/certs", f"cp {HOST_CA} {merged}/etc/ssl/certs/ca-certificates.crt",
                 f"cp -L /etc/resolv.conf {merged}/etc/resolv.conf"]
        for host, inside in binds.items():
            host.mkdir(parents=True, exist_ok=True)
            lines += [f"mkdir -p {merged}{inside}", f"mount --bind {host} {merged}{inside}"]
        return "\n".join(lines)

    def run(self, command: str | Sequence[str], cwd: str = "/root", env: Mapping[str, str] | None = None,
            timeout: float | None = None, log: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run `command` (argv, or a bash script) inside the root; output is captured (and appended to `log`)."""
        for sub in ("upper", "work", "merged"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        merged = self.dir / "merged"
        argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
        inner = ["chroot", str(merged), "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in clean_env(env).items()),
                 "/bin/sh", "-c", f"cd {shlex.quote(cwd)} && exec " + shlex.join(argv)]
        script = self._mount_script(merged) + "\nexec " + shlex.join(inner)
        proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=timeout,
                              env={"PATH": os.environ.get("PATH", CLEAN_PATH)})
        if log is not None:
            with open(log, "a") as handle:
                handle.write(f"$ {shlex.join(argv)}  (exit {proc.returncode})\n{proc.stdout}{proc.stderr}\n")
        return proc

    def copy_in(self, source: Path, inside: str) -> None:
        """Copy a host directory's files into the session (the upper layer) at `inside`."""
        target = self.host_path(inside)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, symlinks=True)


def checkout_files(repo: Path) -> list[str]:
    """The checkout as a clone would have it, plus uncommitted edits: tracked and untracked, not ignored."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, check=True)
    return [name for name in out.stdout.decode().split("\0") if name and (repo / name).exists()]


def copy_checkout(session: Session, repo: Path, inside: str = "/root/envkit") -> None:
    """Put this checkout into the session as `git clone` would (a git repo), with the working tree's edits."""
    target = session.host_path(inside)
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(repo), str(target)], check=True, capture_output=True)
    for name in checkout_files(repo):
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, dest, follow_symlinks=False)
