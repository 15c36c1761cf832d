"""A fleet on loopback: a real sshd on 127.0.0.2-4, three Ansible hosts, the envkit role over SSH.

Used by tests/test_fleet_ansible.py and by `make fleet-demo` (`python -m tests.fleet_loopback`).
The sshd is this test's own: its own config, host key, authorized key and PID file in a temporary
directory, a free non-default port, loopback addresses only; it runs in the foreground as our child
and is stopped by `stop()` (a context manager). Root only (sshd must switch users; CI runs as root).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANSIBLE_DIR = ROOT / "ansible"
SSHD = Path("/usr/sbin/sshd")
ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
CONTROL_DIR = "ansible-cp"  # under the work directory: Ansible's SSH control sockets


def ensure_sshd() -> str | None:
    """openssh-server from apt when missing (as root, like the Makefile); a reason when it cannot be had."""
    if SSHD.exists():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "openssh-server is missing and this is not root with apt-get: apt-get install openssh-server"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "openssh-server"], check=True, env=env, timeout=900)
    return None


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def _wait_listening(addresses: tuple[str, ...], port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    pending = list(addresses)
    while pending and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection((pending[0], port), timeout=1):
                pending.pop(0)
        except OSError:
            time.sleep(0.1)
    if pending:
        raise RuntimeError(f"sshd is not listening on {pending[0]}:{port} (exit {proc.poll()})")


@dataclass
class Loopback:
    """sshd on loopback plus the key pair the controller logs in with."""

    workdir: Path
    addresses: tuple[str, ...] = ADDRESSES
    port: int = 0
    proc: subprocess.Popen | None = None
    files: dict[str, Path] = field(default_factory=dict)

    def start(self) -> "Loopback":
        d = self.workdir / "sshd"
        d.mkdir(parents=True, exist_ok=True)
        host_key, client_key = d / "ssh_host_ed25519_key", d / "id_ed25519"
        for key in (host_key, client_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "envkit-fleet-test", "-f", str(key)],
                               check=True, timeout=30)
        shutil.copy(client_key.with_suffix(".pub"), d / "authorized_keys")
        self.port = _free_port(self.addresses[0])
        config = d / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}",
            *(f"ListenAddress {a}" for a in self.addresses),
            f"HostKey {host_key}",
            f"PidFile {d / 'sshd.pid'}",
            f"AuthorizedKeysFile {d / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",  # the keys live in a temp dir, not in ~/.ssh
            "AllowUsers root",
            "MaxStartups 30",
            "Subsystem sftp internal-sftp",
        ]) + "\n")
        known = d / "known_hosts"
        host_pub = host_key.with_suffix(".pub").read_text().split()
        known.write_text("".join(f"[{a}]:{self.port} {host_pub[0]} {host_pub[1]}\n" for a in self.addresses))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        log = open(d / "sshd.log", "ab")
        self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        try:
            _wait_listening(self.addresses, self.port, self.proc)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"sshd did not start: {(d / 'sshd.log').read_text()[-2000:]}") from None
        self.files = {"key": client_key, "known_hosts": known, "log": d / "sshd.log"}
        return self

    def stop(self) -> None:
        # Ansible's SSH masters (ControlPersist) would outlive the play by a minute: close them first,
        # which ends their sessions on our sshd, then stop the sshd itself.
        for sock in sorted((self.workdir / CONTROL_DIR).glob("*")):
            subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={sock}", "envkit-fleet-host"],
                           capture_output=True, timeout=15, check=False)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> "Loopback":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inventory(self, path: Path, wheel: Path, cache: Path | None, names: tuple[str, ...] = ("node1", "node2", "node3"),
                  **group_vars: object) -> Path:
        """An Ansible inventory (YAML's JSON subset): one host per loopback address, each its own prefix."""
        env = {"ENVKIT_CACHE_DIR": str(cache)} if cache else {}
        if os.environ.get("ENVKIT_DISK_WARN_GIB"):
            env["ENVKIT_DISK_WARN_GIB"] = os.environ["ENVKIT_DISK_WARN_GIB"]  # the host's disk is not under test
        uv_cache = _uv_cache_dir()
        if uv_cache:
            env["UV_CACHE_DIR"] = uv_cache  # the controller's cache: hosts after the first reuse its wheels
        hosts = {name: {"ansible_host": addr, "envkit_home": str(self.workdir / name / "tool"),
                        "envkit_prefix": str(self.workdir / name / "env")}
                 for name, addr in zip(names, self.addresses)}
        doc = {"envkit_fleet": {"hosts": hosts, "vars": {
            "ansible_user": "root", "ansible_port": self.port,
            "ansible_ssh_private_key_file": str(self.files["key"]),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.files['known_hosts']} -o StrictHostKeyChecking=yes "
                                       "-o BatchMode=yes -o ConnectTimeout=10",
            "ansible_python_interpreter": "/usr/bin/python3",
            # cpu with this machine's limits (Python 3.11, its local torch wheels): tests/data/profiles/cpu-dev.toml
            "envkit_profile": str(Path(__file__).resolve().parent / "data" / "profiles" / "cpu-dev.toml"),
            "envkit_no_pretrained_backbone": True,
            "envkit_install_source": "wheel", "envkit_wheel": str(wheel),
            "envkit_report_dir": str(self.workdir / "reports"),
            "envkit_environment": env,
            **group_vars,
        }}}
        path.write_text(json.dumps(doc, indent=2))
        return path


def _uv_cache_dir() -> str | None:
    from envkit.uvbin import find_uv

    try:
        out = subprocess.run([find_uv(), "cache", "dir"], capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError, Exception):  # noqa: BLE001 - no shared cache is only slower
        return None


def build_wheel(dest: Path) -> Path:
    """envkit's wheel, built once: every host installs the same file (as a lab would from CI)."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(ROOT)],
                   check=True, timeout=600, capture_output=True)
    return next(dest.glob("envkit-*.whl"))


@dataclass
class PlaybookRun:
    rc: int
    seconds: float
    stats: dict[str, dict[str, int]]
    output: str


RECAP = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.M)


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP's per-host counters (ok, changed, failed, ...), as Ansible prints them."""
    tail = output.rsplit("PLAY RECAP", 1)[-1] if "PLAY RECAP" in output else ""
    return {host: {k: int(v) for k, v in (kv.split("=") for kv in counters.split())} for host, counters in RECAP.findall(tail)}


def ansible_env(workdir: Path, forks: int = 3) -> dict[str, str]:
    """The collection's config, a private ANSIBLE_HOME and control-socket directory under workdir."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_HOME": str(workdir / "ansible-home"),
           "ANSIBLE_FORKS": str(forks),
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(workdir / CONTROL_DIR), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "True"}
    for k in ("VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(k, None)
    return env


def run_playbook(inventory: Path, workdir: Path, *args: str, forks: int = 3, timeout: float = 2400) -> PlaybookRun:
    """ansible-playbook from envkit's own venv (the test extra installs ansible-core there)."""
    env = ansible_env(workdir, forks)
    playbook = Path(sys.executable).with_name("ansible-playbook")
    argv = [str(playbook), "-i", str(inventory), str(ANSIBLE_DIR / "playbooks" / "fleet.yml"), *args]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    seconds = time.monotonic() - start
    return PlaybookRun(proc.returncode, seconds, recap(proc.stdout), proc.stdout + proc.stderr)


def leftover_processes(workdir: Path) -> list[str]:
    """Processes whose command line names workdir (SSH masters, sessions): none once Loopback stopped."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(workdir) in text and cmdline.parent.name != str(os.getpid()):
            found.append(f"{cmdline.parent.name}: {text[:200]}")
    return found


def break_torchcodec(prefix: Path, version: str = "0.10.0") -> None:
    """The "node 3 has a stale torchcodec" case: swap one in with uv, as a hand-run pip would."""
    from envkit.uvbin import find_uv
    from envkit.pipconfig import read_pip_config

    subprocess.run([find_uv(), "pip", "install", "--python", str(prefix / "bin" / "python"), "--no-deps",
                    *read_pip_config().uv_args(), f"torchcodec=={version}"], check=True, capture_output=True, timeout=600)


def main(argv: list[str] | None = None) -> int:
    """`make fleet-demo`: three loopback hosts, the playbook with forks=3, the aggregated report."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temporary directory, removed)")
    args = parser.parse_args(argv)
    reason = ensure_sshd()
    if reason:
        print(f"fleet-demo: {reason}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="envkit-fleet-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        wheel = build_wheel(workdir / "dist")
        with Loopback(workdir) as lb:
            inv = lb.inventory(workdir / "inventory.yml", wheel, None)
            print(f"fleet-demo: 3 hosts on {', '.join(lb.addresses)} port {lb.port}; playbook with forks=3 ...", flush=True)
            run = run_playbook(inv, workdir)
            print(run.output[-6000:])
            print(f"fleet-demo: playbook exit {run.rc} in {run.seconds:.0f} s")
        report = subprocess.run([str(Path(sys.executable).with_name("envkit")), "fleet", "report", str(workdir / "reports")], check=False)
        return run.rc or report.returncode
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
