"""Index credentials never appear in any process's argv (readable by every local user in
/proc/PID/cmdline), yet the children still authenticate.

An authenticated index on loopback (tests/index_server.py with `auth`): 401 without the credentials,
404 with them (it holds no packages, so uv goes on to the next index). A thread reads every
/proc/PID/cmdline each 100 ms while a real `envkit setup --profile cpu` and a real `envkit lock`
run against it: the password is in none, and the server's log shows the authorized requests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from envkit import secrets
from tests.cli_util import run_envkit
from tests.index_server import RecordedIndex

PW = "Argv-PLANTED-pw-9173"
USER = "lab"
NO_PIP_CONFIG = {"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": "", "PIP_INDEX_URL": "",
                 "PIP_CONSTRAINT": "", "PIP_NO_INDEX": "", "PIP_TRUSTED_HOST": ""}


class ArgvScanner:
    """Reads every process's command line each `period` seconds; keeps the ones holding `needle`."""

    def __init__(self, needle: str, period: float = 0.1) -> None:
        self.needle, self.period = needle.encode(), period
        self.seen: list[tuple[int, str]] = []
        self.scans = 0
        self.processes: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                self.processes.add(int(entry))
                if self.needle in cmdline:
                    self.seen.append((int(entry), cmdline.replace(b"\0", b" ").decode(errors="replace")[:300]))
            self.scans += 1
            self._stop.wait(self.period)

    def __enter__(self) -> ArgvScanner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture()
def auth_index(tmp_path: Path) -> Iterator[RecordedIndex]:
    empty = tmp_path / "index"
    (empty / "simple").mkdir(parents=True)
    with RecordedIndex(data=empty, auth=(USER, PW)) as index:
        yield index


def _with_creds(url: str) -> str:
    return url.replace("http://", f"http://{USER}:{PW}@")


def test_the_index_server_refuses_without_credentials(auth_index: RecordedIndex) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(auth_index.url + "/torch/", timeout=5)
    assert err.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(secrets.http_request(_with_creds(auth_index.url) + "/nothing/"), timeout=5)
    assert err.value.code == 404 and auth_index.authorized == [("GET", "/simple/nothing/")]


def test_child_credentials_move_userinfo_into_env_and_a_private_netrc(tmp_path: Path) -> None:
    url = f"https://{USER}:{PW}@mirror.example/simple"
    argv = ["uv", "pip", "install", "--index", f"lab-mirror={url}", "--extra-index-url", url.replace("mirror", "extra"), "torch"]
    with secrets.child_credentials(argv, {"PATH": "/usr/bin"}) as (child_argv, env):
        assert PW not in " ".join(child_argv)
        assert child_argv[4] == "lab-mirror=https://mirror.example/simple" and child_argv[6] == "https://extra.example/simple"
        assert env["UV_INDEX_LAB_MIRROR_USERNAME"] == USER and env["UV_INDEX_LAB_MIRROR_PASSWORD"] == PW
        netrc = Path(env["NETRC"])
        assert netrc.stat().st_mode & 0o777 == 0o600 and netrc.parent.stat().st_mode & 0o777 == 0o700
        assert f"machine extra.example login {USER} password {PW}" in netrc.read_text()
    assert not netrc.parent.exists()  # removed when the child is done
    with secrets.child_credentials(["uv", "--version"], {}) as (plain, env):
        assert plain == ["uv", "--version"] and "NETRC" not in env


def test_urllib_requests_carry_credentials_as_a_header_not_a_traceback() -> None:
    """`http.client.InvalidURL: nonnumeric port: 'S3cretPass@index.example'` was the crash before."""
    from envkit.lock.pypi import probe_index

    req = secrets.http_request(f"https://alice:{PW}@127.0.0.1:9/simple/torch/", "HEAD")
    assert req.full_url == "https://127.0.0.1:9/simple/torch/" and PW not in req.full_url
    assert req.unredirected_hdrs["Authorization"].startswith("Basic ")
    assert probe_index("lab", f"http://alice:{PW}@127.0.0.1:9/simple", "torch", timeout=2) is not None  # refused: unreachable


def test_credentialed_index_urls_are_a_plan_not_a_traceback(tmp_path: Path) -> None:
    profile = tmp_path / "s.toml"
    profile.write_text(f'schema_version = 1\nextends = "cpu"\nname = "s"\n\n[[indexes]]\nname = "lab"\n'
                       f'url = "https://alice:{PW}@127.0.0.1:9/simple"\npackages = ["torch"]\nexplicit = true\n'
                       f'\n[cpu_builds]\nurl = "https://bob:{PW}@127.0.0.1:9/whl/cpu"\n')
    res = run_envkit("setup", "--profile", str(profile), "--dry-run", "--prefix", str(tmp_path / "env"),
                     "--cpu-index", f"https://carol:{PW}@127.0.0.1:9/whl/cpu", env=NO_PIP_CONFIG, timeout=120)
    assert "Traceback" not in res.err and PW not in res.out + res.err, res.err
    assert res.code in (0, 2), res.err
    lock = run_envkit("lock", "--profile", str(profile), "--platform", "linux-64", "--layer", "pypi",
                      "--lockfiles", str(tmp_path / "l"), env={**NO_PIP_CONFIG, "UV_HTTP_TIMEOUT": "3"}, timeout=120)
    assert "Traceback" not in lock.err and PW not in lock.out + lock.err, lock.err
    assert lock.code == 1 and "unreachable" in lock.err, lock.err  # an unreachable index exits 1 by design


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("python3.11") is None, reason="the cpu profile builds its venv on python3.11")
def test_a_real_setup_and_lock_against_an_authenticated_index_keep_the_password_out_of_argv(
        auth_index: RecordedIndex, tmp_path: Path, doctor_cache: Path) -> None:
    env = {**NO_PIP_CONFIG, "PIP_EXTRA_INDEX_URL": _with_creds(auth_index.url), "ENVKIT_CACHE_DIR": str(doctor_cache)}
    with ArgvScanner(PW) as scan:
        res = run_envkit("setup", "--profile", "cpu", "--prefix", str(tmp_path / "env"), "--yes",
                         "--no-pretrained-backbone", env=env, timeout=1500)
    assert res.code == 0, res.err[-3000:]
    assert scan.scans > 10 and not scan.seen, scan.seen[:3]
    assert PW not in res.out + res.err
    assert auth_index.authorized, "setup never authenticated to the index"
    assert any(path.startswith("/simple/torch") for _, path in auth_index.authorized), auth_index.authorized[:10]
    # lock: the profile's own [[indexes]] entry, credentials in the URL, through uv's environment
    profile = tmp_path / "lab.toml"
    profile.write_text(f'schema_version = 1\nextends = "cpu"\nname = "lab"\n\n[[indexes]]\nname = "lab-mirror"\n'
                       f'url = "{_with_creds(auth_index.url)}"\npackages = ["torch", "torchvision"]\nexplicit = false\n')
    auth_index.authorized.clear()
    with ArgvScanner(PW) as scan:
        lock = run_envkit("lock", "--profile", str(profile), "--platform", "linux-64", "--layer", "pypi",
                          "--lockfiles", str(tmp_path / "lockfiles"), env=NO_PIP_CONFIG, timeout=600)
    assert lock.code == 0, lock.err[-3000:]
    assert scan.scans > 5 and not scan.seen, scan.seen[:3]
    assert auth_index.authorized, "lock never authenticated to the index"
    for path in (tmp_path / "lockfiles").rglob("*"):
        if path.is_file():
            assert PW not in path.read_text(errors="replace"), path


def test_scanner_sees_a_password_in_argv(tmp_path: Path) -> None:
    """The scanner itself can fail: a child with the password in its argv is caught."""
    with ArgvScanner(PW) as scan:
        subprocess.run([sys.executable, "-c", "import time; time.sleep(0.5)", PW], check=True)
    assert scan.seen
