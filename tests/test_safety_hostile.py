"""The hostile-run findings of issue #24, each as a fault test with the promised outcome: exit 2 and one
paragraph, nothing lost, no secret, no process left behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.cli_util import ENVKIT, assert_user_error, run_envkit
from tests.test_safety_prefix import run_plan, snapshot


def _record(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENVKIT), "detect", "--record", str(target)], capture_output=True, text=True, timeout=60)


# --- record: only regular files and directories are written; a directory envkit did not make is never replaced ---


def test_record_onto_a_device_fifo_or_socket_is_refused_and_left_alone(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    targets = [(fifo, stat.S_ISFIFO, "FIFO"), (sock_path, stat.S_ISSOCK, "socket")]
    try:
        os.mknod(tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
        targets.append((tmp_path / "null", stat.S_ISCHR, "character device"))
    except PermissionError:
        pass  # not root: the FIFO and the socket still run
    try:
        for target, kind, word in targets:
            proc = _record(target)  # a FIFO used to hang here for good
            res = type("R", (), {"code": proc.returncode, "out": proc.stdout, "err": proc.stderr})
            assert_user_error(res, "--record", word)
            assert kind(os.lstat(target).st_mode), target  # still what it was, not moved aside
            proc = _record(target / "rec")  # below it: refused the same way
            assert proc.returncode == 2 and word in proc.stderr, proc.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(t.name for t, _, _ in targets)  # no staging left
    finally:
        sock.close()


def test_re_recording_never_deletes_files_the_user_added(tmp_path: Path) -> None:
    rec = tmp_path / "R"
    assert _record(rec).returncode == 0
    (rec / "MY_NOTES.txt").write_text("notes")
    (rec / "files" / "mine").mkdir(parents=True, exist_ok=True)
    (rec / "files" / "mine" / "x.log").write_text("log")
    before = snapshot(rec)
    proc = _record(rec)
    res = type("R", (), {"code": proc.returncode, "out": proc.stdout, "err": proc.stderr})
    assert_user_error(res, "MY_NOTES.txt", "files/mine/x.log", "did not write")
    assert snapshot(rec) == before
    (rec / "MY_NOTES.txt").unlink()
    (rec / "files" / "mine" / "x.log").unlink()
    assert _record(rec).returncode == 0  # envkit's own recording is still replaced


# --- undo: every unknown file wherever it is; user files below bin/, share/, lib/ survive --yes ---


def test_undo_keeps_user_files_inside_what_setup_created_and_lists_every_one(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    assert run_plan(prefix).returncode == 0
    time.sleep(0.2)
    (prefix / "bin" / "my_train.sh").write_text("#!/bin/sh\necho train\n")
    (prefix / "share").mkdir(exist_ok=True)
    (prefix / "share" / "notes.txt").write_text("notes")
    (prefix / "lib" / "mydata").mkdir()
    (prefix / "lib" / "mydata" / "episode.bin").write_bytes(b"\x00" * 100)
    (prefix / "lib" / "python3.11" / "site-packages" / "foo" / "__pycache__").mkdir()
    (prefix / "lib" / "python3.11" / "site-packages" / "foo" / "__pycache__" / "x.pyc").write_bytes(b"pyc")
    refused = run_envkit("setup", "--undo", "--prefix", str(prefix))
    assert_user_error(refused, "bin/my_train.sh", "share/", "lib/mydata/episode.bin", "nothing was removed")
    assert "__pycache__" not in refused.err  # bytecode Python wrote is not the user's
    done = run_envkit("setup", "--undo", "--yes", "--prefix", str(prefix))
    assert done.code == 0, done.err
    left = sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*"))
    assert left == ["bin", "bin/my_train.sh", "lib", "lib/mydata", "lib/mydata/episode.bin", "share", "share/notes.txt"], left


def test_a_user_file_added_between_two_setups_stays_the_users(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    assert run_plan(prefix).returncode == 0
    time.sleep(0.2)
    (prefix / "bin" / "between.sh").write_text("mine")
    state = json.loads((prefix / ".envkit" / "state.json").read_text())
    state["steps"].pop("torch")  # the next setup reruns a step: its claim must not take the user's file
    (prefix / ".envkit" / "state.json").write_text(json.dumps(state))
    assert run_plan(prefix).returncode == 0
    assert run_envkit("setup", "--undo", "--yes", "--prefix", str(prefix)).code == 0
    assert (prefix / "bin" / "between.sh").read_text() == "mine"


KILL_RUNNER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from envkit.setup.plan import Plan, Step, _finalize
    from envkit.setup.engine import execute
    prefix = Path(sys.argv[1])
    slow = 'mkdir -p "$0/lib/pkg" && sleep 30 && echo late > "$0/lib/pkg/late" # ENVKIT_HOSTILE_MARK'
    steps = [
        Step("environment", "venv-like", "test", "commands", commands=(("sh", "-c", 'mkdir -p "$0/bin" && echo py > "$0/bin/python"', str(prefix)),),
             verify=("bin/python",)),
        Step("torch", "a slow installer", "test", "commands", commands=(("sh", "-c", slow, str(prefix)),), depends=("environment",)),
    ]
    execute(Plan("test", prefix, "venv", "x", _finalize(steps)), resume_cmd="test")
""")


def _marked() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if b"ENVKIT_HOSTILE_MARK" in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def test_kill_9_of_setup_during_an_install_leaves_no_installer_and_undo_removes_everything(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    proc = subprocess.Popen([sys.executable, "-c", KILL_RUNNER, str(prefix)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state_file = prefix / ".envkit" / "state.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            flight = json.loads(state_file.read_text()).get("in_flight") or {}
        except (OSError, ValueError):
            flight = {}
        if flight.get("step") == "torch" and flight.get("pgid") and _marked():
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the slow step never started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)
    try:
        assert _marked() == [], "the installer outlived setup"
        undo = run_envkit("setup", "--undo", "--prefix", str(prefix))
        assert undo.code == 0, undo.err
        time.sleep(0.5)
        assert not prefix.exists(), sorted(str(p) for p in prefix.rglob("*"))
    finally:
        for pid in _marked():
            os.kill(pid, signal.SIGKILL)


# --- state files of the wrong shape: exit 2, one paragraph ---


def test_a_state_request_of_the_wrong_type_is_one_paragraph(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    assert run_plan(prefix).returncode == 0
    state = json.loads((prefix / ".envkit" / "state.json").read_text())
    for bad in ("a string", [1, 2], 5):
        state["request"] = bad
        (prefix / ".envkit" / "state.json").write_text(json.dumps(state))
        for args in (("doctor", "--prefix", str(prefix), "--json", "--no-smoke"), ("setup", "--undo", "--prefix", str(prefix))):
            assert_user_error(run_envkit(*args), "request")


# --- fleet report: host text is text (control characters escaped, no markup), never a traceback ---


def _report(checks: list[dict]) -> str:
    return json.dumps({"envkit_version": "0.1", "profile": "cpu", "versions": {"torch": "2.7.1"}, "ok": False, "checks": checks})


def test_fleet_report_prints_host_text_as_text(tmp_path: Path) -> None:
    evil = "\u001b]0;PWNED\u0007\u001b[2J"
    (tmp_path / "a.json").write_text(_report([
        {"id": "[/oops]", "status": "fail", "summary": evil + "torch broken", "fix": 5},
        {"id": "x.y", "status": "warn", "summary": "[bold red]fake[/] \r\nforged line", "fix": "hide\u001b[8mme"},
    ]))
    (tmp_path / "b.json").write_text(_report([{"id": "x.y", "status": "ok", "summary": "fine"}]))
    for fmt in ((), ("--markdown",), ("--json",)):
        res = run_envkit("fleet", "report", str(tmp_path), *fmt, env={"COLUMNS": "200"})
        assert res.code == 1, res.err  # a red host: exit 1, not a traceback
        assert "Traceback" not in res.err
        assert not any(c in res.out for c in ("\u001b", "\u0007", "\r")), repr(res.out)
        if fmt != ("--json",):
            assert "[/oops]" in res.out and "[bold red]fake[/]" in res.out and "x1b]0;PWNED" in res.out, res.out
            assert "5" in res.out


def test_fleet_report_of_deeply_nested_json_is_one_paragraph(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 200000 + "]" * 200000)
    assert_user_error(run_envkit("fleet", "report", str(tmp_path)), "deep.json", "nested too deep")


# --- messages that said the wrong thing ---


def test_messages_name_what_is_actually_wrong(tmp_path: Path) -> None:
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b'\xef\xbb\xbfschema_version = 1\nextends = "cpu"\nname = "bom"\n')
    res = run_envkit("resolve", "--profile", str(bom))
    assert res.code == 0, res.err  # a UTF-8 BOM is accepted
    ext = tmp_path / "ext.toml"
    ext.write_text('schema_version = 1\nextends = "nonexistent-prof"\nname = "x"\n')
    assert_user_error(run_envkit("resolve", "--profile", str(ext)), str(ext), "extends", "nonexistent-prof")
    missing = tmp_path / "nonexistent_lock"
    res = run_envkit("setup", "--profile", "cpu", "--from-lock", str(missing), "--dry-run", "--prefix", str(tmp_path / "p"))
    assert_user_error(res, str(missing), "does not exist")
    assert "--profile nonexistent_lock" not in res.err
    (tmp_path / "wdir").mkdir()
    (tmp_path / "dfile").write_text("x")
    assert_user_error(run_envkit("setup", "--profile", "cpu", "--weights", str(tmp_path / "wdir"), "--prefix", str(tmp_path / "p")),
                      "is a directory, not a file")
    assert_user_error(run_envkit("doctor", "--python", sys.executable, "--dataset", str(tmp_path / "dfile"), "--no-smoke"),
                      "is a file, not a directory")


def test_launch_devices_beyond_reason_is_refused() -> None:
    from envkit.errors import EnvkitError
    from envkit.launch.devices import select

    for spec, available, selectable in (("1000000000", None, False), ("9", 8, True), ("0,99999999999", 8, True)):
        with pytest.raises(EnvkitError):
            select(spec, available, selectable)
    assert select("4", None, False).nproc == 4  # an oversubscribed CPU run is still only a warning


# --- child output is read with a bound ---


def test_a_target_that_floods_stdout_is_stopped_not_buffered(tmp_path: Path) -> None:
    flood = tmp_path / "python"
    flood.write_text("#!/bin/sh\nexec yes '{'\n")
    flood.chmod(0o755)
    start = time.monotonic()
    proc = subprocess.Popen([str(ENVKIT), "doctor", "--python", str(flood), "--no-smoke"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None and time.monotonic() - start < 120:
        try:
            rss = int(next(ln for ln in Path(f"/proc/{proc.pid}/status").read_text().splitlines() if ln.startswith("VmRSS")).split()[1])
            peak = max(peak, rss)
        except (OSError, StopIteration):
            pass
        time.sleep(0.05)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 60, "the flood was not stopped"
    assert peak < 300 * 1024, f"envkit grew to {peak} KiB"
    res = type("R", (), {"code": proc.returncode, "out": out, "err": err})
    assert_user_error(res, "printed more than", "MiB")
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(int(p)).startswith(b"yes\0{")]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# --- launch: kill -9 of the launcher never orphans the ranks, and envkit gives a verdict ---


def test_kill_9_of_the_launcher_stops_its_ranks_and_gives_a_verdict(tmp_path: Path) -> None:
    import io

    from envkit.launch.execute import execute
    from envkit.launch.plan import LaunchPlan

    (tmp_path / "bin").mkdir()
    rank = f"{sys.executable} -c 'import time; print(\"rank up\", flush=True); time.sleep(300)' ENVKIT_RANK_MARK"
    # two ranks in the launcher's group, one that left it (setsid), then the launcher kills itself with -9
    script = f"{rank} & {rank} & setsid {rank} & sleep 1; kill -9 $$"
    plan = LaunchPlan(profile="cpu", backend="cpu", launcher="torchrun", nproc=3, devices=None, port=1,
                      argv=("bash", "-c", script), env={}, prefix=str(tmp_path), entry="x", train_args=(), mixed_precision="no")
    start = time.monotonic()
    outcome = execute(plan, [], echo=io.StringIO())
    assert time.monotonic() - start < 30, "envkit waited on the orphaned ranks"
    assert outcome.returncode == -signal.SIGKILL
    assert outcome.explanations and outcome.explanations[0].id == "launch.launcher_died"
    assert "3 process(es)" in outcome.explanations[0].summary, outcome.explanations[0].summary
    time.sleep(0.3)
    assert not [p for p in os.listdir("/proc") if p.isdigit() and b"ENVKIT_RANK_MARK" in _cmdline(int(p))
                and b" Z " not in Path(f"/proc/{p}/stat").read_bytes()[:200]]


# --- a full disk while unpacking a bundle is named as a full disk, checked before unpacking ---

FULL_DISK = textwrap.dedent("""
    import hashlib, os, sys
    from pathlib import Path
    from envkit.bundle import archive
    from envkit.bundle.manifest import Manifest, Member
    from envkit.errors import EnvkitError
    work, small = Path(sys.argv[1]), Path(sys.argv[2])
    blob = work / "wheel.whl"
    blob.write_bytes(os.urandom(3 << 20))
    m = Member("wheels/x-1-py3-none-any.whl", hashlib.sha256(blob.read_bytes()).hexdigest(), blob.stat().st_size, "wheel")
    manifest = Manifest("cpu", "profile/cpu.toml", "linux-64", "3.11", "0", (m,))
    archive.write(work / "b.tar", manifest, {m.path: blob})
    try:
        archive.check_free_space(manifest, small)
        print("free-space: passed")
    except EnvkitError as exc:
        print("free-space:", exc.paragraph())
    try:
        archive.scan(work / "b.tar", dest=small / "stage")  # what the unpacking does, past the check
        print("scan: no error")
    except EnvkitError as exc:
        print("scan:", type(exc).__name__, exc.paragraph())
""")


def test_a_full_disk_while_unpacking_a_bundle_is_named_as_one(tmp_path: Path) -> None:
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -m not permitted here")
    small = tmp_path / "small"
    small.mkdir()
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK)
    proc = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs '{small}' && "
                           f"'{sys.executable}' '{script}' '{tmp_path}' '{small}'"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = dict(ln.split(": ", 1) for ln in proc.stdout.splitlines())
    assert "GB free" in lines["free-space"] and "need" in lines["free-space"], proc.stdout
    assert lines["scan"].startswith("WriteFailed") and "is full" in lines["scan"] and "damaged" not in lines["scan"], proc.stdout


# --- a PYTHONPATH torch that segfaults is named as the crash, and PYTHONPATH as the cause ---


def test_a_pythonpath_torch_that_segfaults_is_named_as_the_crash(tmp_path: Path) -> None:
    (tmp_path / "pp" / "torch").mkdir(parents=True)
    (tmp_path / "pp" / "torch" / "__init__.py").write_text("import ctypes\nctypes.string_at(0)\n")
    res = run_envkit("doctor", "--python", sys.executable, "--no-smoke", "--json", "--check", "torch", "--check", "hooks",
                     env={"PYTHONPATH": str(tmp_path / "pp")}, timeout=300)
    assert "Traceback" not in res.err, res.err
    checks = {c["id"]: c for c in json.loads(res.out)["checks"]}
    torch = checks["torch.import"]
    assert torch["status"] == "fail" and "crashes the interpreter" in torch["summary"] and "SIGSEGV" in torch["summary"], torch
    assert "PYTHONPATH" in torch["summary"] and "unset PYTHONPATH" in torch["fix"] and "not installed" not in torch["summary"]
    shadow = checks["hooks.launch_env"]
    assert shadow["status"] == "warn" and "torch from " + str(tmp_path / "pp") in shadow["summary"], shadow


def test_a_lock_manifest_file_of_the_wrong_type_or_outside_the_lock_is_one_paragraph(tmp_path: Path) -> None:
    import shutil

    repo = Path(__file__).resolve().parent.parent
    for bad in (5, ["a"], "../../../etc/passwd", "/etc/passwd"):
        lock = tmp_path / "cpu"
        shutil.rmtree(lock, ignore_errors=True)
        shutil.copytree(repo / "lockfiles" / "cpu", lock)
        doc = json.loads((lock / "manifest.json").read_text())
        doc["layers"]["pypi"]["linux-64"]["file"] = bad
        (lock / "manifest.json").write_text(json.dumps(doc))
        res = run_envkit("setup", "--from-lock", str(lock), "--profile", "cpu", "--dry-run", "--prefix", str(tmp_path / "p"))
        assert_user_error(res, "manifest.json", "file")
