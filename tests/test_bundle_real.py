"""The cpu profile bundled from the committed lock, then `setup --bundle` in a network namespace with no
interfaces (`unshare -n`): doctor green with no network at all, after a first try was killed (-9)
while unpacking (its staging directory is swept by the next run). Then one wheel's bytes are changed
inside the tar: setup refuses naming that wheel and the prefix is exactly as it was.

Slow (minutes, ~3.5 GB of wheels): the lock's files come from the local mirror pip is configured with
(or PyPI) and uv's cache is shared with the other real tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import signal
import tarfile
import time
from pathlib import Path

import pytest

from tests.cli_util import ENVKIT, assert_user_error, Result

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.network,
              pytest.mark.skipif(shutil.which("python3.11") is None, reason="the cpu profile builds its venv on python3.11"),
              pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="unshare -n needs root")]


def _offline(*args: str, env: dict[str, str], timeout: int = 1800) -> Result:
    """envkit in a new network namespace: not even loopback is up, so any download attempt fails."""
    proc = subprocess.run(["unshare", "-n", str(ENVKIT), *args], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def _killed_while_unpacking(bundle: Path, prefix: Path, env: dict[str, str]) -> list[Path]:
    """kill -9 a `setup --bundle` while it writes the wheels beside the prefix; the prefix is not made."""
    proc = subprocess.Popen(["unshare", "-n", str(ENVKIT), "setup", "--bundle", str(bundle), "--prefix", str(prefix)],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, stages = time.monotonic() + 600, []
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            stages = list(prefix.parent.glob(f".{prefix.name}.envkit-bundle-*"))
            if any((stage / "wheels").is_dir() for stage in stages):
                break
            time.sleep(0.05)
    finally:
        proc.kill()  # SIGKILL: no handler runs, nothing is cleaned up by the process itself
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.returncode  # killed mid-unpack, not finished
    assert stages and not prefix.exists()
    return stages


def test_cpu_bundle_sets_up_doctor_green_offline_and_a_changed_wheel_is_refused(tmp_path: Path, doctor_cache: Path) -> None:
    bundle = tmp_path / "cpu.tar"
    prefix = tmp_path / "offline env"
    try:
        # cpu-dev: the cpu profile with this machine's limits, locked to its local wheels (tests/data/lockfiles/cpu-dev)
        built = subprocess.run([str(ENVKIT), "bundle", "--profile", str(REPO / "tests/data/profiles/cpu-dev.toml"), "--platform", "linux-64",
                                "--from-lock", str(REPO / "tests/data/lockfiles/cpu-dev"), "-o", str(bundle), "--json"], capture_output=True, text=True, timeout=1800)
        assert built.returncode == 0, built.stderr[-3000:]
        env = {"ENVKIT_CACHE_DIR": str(doctor_cache), "ENVKIT_TEST_KILL_AT": ""}
        probe = subprocess.run(["unshare", "-n", "python3", "-c", "import socket; socket.create_connection(('1.1.1.1', 443), timeout=3)"],
                               capture_output=True, text=True, check=False)
        assert probe.returncode != 0 and "unreachable" in probe.stderr.lower(), probe.stderr  # truly offline
        stages = _killed_while_unpacking(bundle, prefix, env)
        res = _offline("setup", "--bundle", str(bundle), "--prefix", str(prefix), "--json", env=env)
        assert res.code == 0, res.err[-3000:]
        assert not any(p.exists() for p in stages)  # the killed run's gigabytes were swept, not left beside the prefix
        assert not list(tmp_path.glob(".*envkit-bundle-*"))
        summary = json.loads(res.out)
        assert summary["ran"] == ["environment", "ffmpeg", "libpython", "packages", "hooks", "doctor"]
        assert summary["doctor"]["verdict"] == "green"
        log = (prefix / ".envkit" / "setup.log").read_text()
        assert "--no-index --find-links" in log and "https://" not in log.split("## step packages", 1)[1].split("## step hooks")[0]
        assert (prefix / ".envkit" / "bundle" / "manifest.json").is_file()

        with tarfile.open(bundle) as tar:
            six = next(m for m in tar.getmembers() if m.name.startswith("wheels/six-"))
        with open(bundle, "r+b") as handle:  # the test's own copy: change one wheel's bytes in place
            handle.seek(six.offset_data + 100)
            byte = handle.read(1)
            handle.seek(six.offset_data + 100)
            handle.write(bytes([byte[0] ^ 0xFF]))
        before = _tree(prefix)
        again = _offline("setup", "--bundle", str(bundle), "--prefix", str(prefix), env=env, timeout=600)
        assert_user_error(again, six.name, "nothing was installed")
        assert _tree(prefix) == before
    finally:
        bundle.unlink(missing_ok=True)
        shutil.rmtree(prefix, ignore_errors=True)  # gigabytes: not left for pytest's tmp retention
