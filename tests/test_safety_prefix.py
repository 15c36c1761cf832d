"""The prefix safety model (docs/safety.md) on synthetic plans: no torch, seconds per test.

The plans below do to a prefix what uv venv --allow-existing and uv pip install do (rewrite
.gitignore, bin/activate, pyvenv.cfg in place; add a distribution with dist-info and RECORD), so
every case of issue #9 runs through the real runner, state file, lock and `envkit setup --undo`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli_util import ENVKIT, assert_user_error, run_envkit

RUNNER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from envkit.hooks import HookSpec
    from envkit.setup.plan import Plan, Step, _finalize
    from envkit.setup.engine import execute
    prefix, yes = Path(sys.argv[1]), sys.argv[2] == "yes"
    site = prefix / "lib/python3.11/site-packages"
    venv = ('mkdir -p "$0/bin" && echo "*" > "$0/.gitignore" && echo "# venv activate" > "$0/bin/activate" '
            '&& echo "home = /usr/bin" > "$0/pyvenv.cfg" && echo "Signature: 8a477f597d28d172789f06886806bc55" > "$0/CACHEDIR.TAG"')
    dist = ('mkdir -p "$0/foo-1.0.dist-info" "$0/foo" && echo "x = 1" > "$0/foo/__init__.py" '
            '&& printf "Metadata-Version: 2.1\\\\nName: foo\\\\nVersion: 1.0\\\\n" > "$0/foo-1.0.dist-info/METADATA" '
            '&& printf "foo/__init__.py,,\\\\nfoo-1.0.dist-info/METADATA,,\\\\n" > "$0/foo-1.0.dist-info/RECORD"')
    spec = HookSpec(prefix, "test", {"MARK": "a"})
    steps = [
        Step("environment", "venv-like", "test", "commands",
             commands=(("sh", "-c", venv, str(prefix)), ("sh", "-c", 'mkdir -p "$0/lib" && echo py > "$0/bin/python"', str(prefix))),
             verify=("bin/python",)),
        Step("torch", "one distribution", "test", "commands",
             commands=(("mkdir", "-p", str(site)), ("sh", "-c", dist, str(site))), depends=("environment",)),
        Step("hooks", "hooks", "test", "hooks", params={"spec": spec},
             verify=("etc/conda/activate.d/envkit.sh", "etc/conda/deactivate.d/envkit.sh")),
    ]
    print(json.dumps(execute(Plan("test", prefix, "venv", "x", _finalize(steps)), yes=yes, resume_cmd="test")))
""")


def run_plan(prefix: Path, *, yes: bool = False, kill: str | None = None, wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ENVKIT_TEST_KILL_AT"}
    if kill:
        env["ENVKIT_TEST_KILL_AT"] = kill
    return subprocess.run([*(wrap or []), sys.executable, "-c", RUNNER, str(prefix), "yes" if yes else "no"],
                          env=env, capture_output=True, text=True, timeout=120)


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under root: file bytes, link targets, directories."""
    out: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = path.read_bytes()
    return out


@pytest.fixture()
def user_dir(tmp_path: Path) -> Path:
    """A directory a user already keeps things in, including files uv venv would rewrite."""
    d = tmp_path / "my env"
    (d / "bin").mkdir(parents=True)
    (d / "data").mkdir()
    (d / ".gitignore").write_text("checkpoints/\n")
    (d / "bin" / "activate").write_text("# my own activate script\nexport FOO=1\n")
    (d / "data" / "episode.bin").write_bytes(os.urandom(4096))
    (d / "latest").symlink_to("data/episode.bin")
    return d


def test_foreign_directory_is_refused_by_default_and_nothing_written(user_dir: Path) -> None:
    before = snapshot(user_dir)
    res = run_envkit("setup", "--profile", "cpu", "--prefix", str(user_dir))
    assert_user_error(res, "envkit did not create", "--yes", "backs up")
    assert snapshot(user_dir) == before


def test_adopted_directory_is_backed_up_and_undo_restores_it_byte_identical(user_dir: Path) -> None:
    before = snapshot(user_dir)
    done = run_plan(user_dir, yes=True)
    assert done.returncode == 0, done.stderr
    assert (user_dir / ".gitignore").read_text() == "*\n"  # the venv step did rewrite the user's files...
    state = json.loads((user_dir / ".envkit" / "state.json").read_text())
    assert set(state["backed_up"]) == {".gitignore", "bin/activate", "data/episode.bin", "latest"}
    assert "pyvenv.cfg" in state["owned"] and "bin/python" in state["owned"] and "bin/" not in state["owned"]
    res = run_envkit("setup", "--undo", "--prefix", str(user_dir))
    assert res.code == 0, res.err
    assert snapshot(user_dir) == before  # ...and undo gave every one back; nothing of envkit's remains
    assert "restored" in res.out and "left" in res.out and "existed before setup" in res.out


def test_undo_refuses_when_the_user_added_files_and_leaves_them_with_yes(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    assert run_plan(prefix).returncode == 0
    ckpt = prefix / "outputs" / "run1" / "model.safetensors"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(os.urandom(8192))
    saved = ckpt.read_bytes()
    everything = snapshot(prefix)
    refused = run_envkit("setup", "--undo", "--prefix", str(prefix))
    assert_user_error(refused, "outputs/", "did not create", "--yes", "nothing was removed")
    assert snapshot(prefix) == everything
    res = run_envkit("setup", "--undo", "--prefix", str(prefix), "--yes")
    assert res.code == 0, res.err
    assert ckpt.read_bytes() == saved
    assert run_envkit("setup", "--undo", "--prefix", str(prefix), "--json").code == 2  # nothing left to undo
    assert sorted(p.name for p in prefix.iterdir()) == ["outputs"]
    assert f"left {prefix / 'outputs'}" in res.out and "setup did not create it" in res.out


def test_an_empty_directory_the_user_made_is_kept(tmp_path: Path) -> None:
    prefix = tmp_path / "empty"
    prefix.mkdir()
    assert run_plan(prefix).returncode == 0
    res = run_envkit("setup", "--undo", "--prefix", str(prefix))
    assert res.code == 0, res.err
    assert prefix.is_dir() and not any(prefix.iterdir())
    assert "existed before setup" in res.out and "setup created it" not in res.out


def test_a_prefix_setup_created_is_removed_whole(tmp_path: Path) -> None:
    prefix = tmp_path / "new"
    assert run_plan(prefix).returncode == 0
    res = run_envkit("setup", "--undo", "--prefix", str(prefix), "--json")
    assert res.code == 0 and not prefix.exists(), res.err
    assert f"removed {prefix} (setup created it)" in json.loads(res.out)["undone"]


def test_undo_and_setup_take_the_same_lock(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    assert run_plan(prefix).returncode == 0
    everything = snapshot(prefix)
    with open(prefix / ".envkit" / "lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a setup in progress
        undo = run_envkit("setup", "--undo", "--prefix", str(prefix))
        assert_user_error(undo, "another envkit setup or undo is running", "undo did not start")
        setup = run_plan(prefix)
        assert setup.returncode != 0 and "another envkit setup or undo is running" in setup.stderr
    assert snapshot(prefix) == everything


def test_undo_through_a_symlinked_prefix_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    assert run_plan(real).returncode == 0
    link = tmp_path / "link"
    link.symlink_to(real)
    everything = snapshot(real)
    assert_user_error(run_envkit("setup", "--undo", "--prefix", str(link)), "symbolic link", str(real))
    assert snapshot(real) == everything


def test_gutted_distribution_is_repaired_not_skipped(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    assert run_plan(prefix).returncode == 0
    again = json.loads(run_plan(prefix).stdout)
    assert again["ran"] == []
    site = prefix / "lib/python3.11/site-packages"
    state = json.loads((prefix / ".envkit" / "state.json").read_text())
    assert state["steps"]["torch"]["dists"] == {"lib/python3.11/site-packages/foo-1.0.dist-info": ["lib/python3.11/site-packages/foo/__init__.py"]}
    shutil.rmtree(site / "foo")  # the package is gone, its dist-info still claims it
    repaired = run_plan(prefix)
    assert json.loads(repaired.stdout)["ran"] == ["torch"], repaired.stderr
    assert (site / "foo" / "__init__.py").is_file()
    shutil.rmtree(site / "foo-1.0.dist-info")  # uninstalled behind envkit's back
    assert json.loads(run_plan(prefix).stdout)["ran"] == ["torch"]


@pytest.mark.parametrize("kill", ["environment", "torch", "hooks"])
def test_killed_setup_then_undo_gives_the_user_directory_back(user_dir: Path, kill: str) -> None:
    before = snapshot(user_dir)
    killed = run_plan(user_dir, yes=True, kill=kill)
    assert killed.returncode == -9, killed.stderr
    state = json.loads((user_dir / ".envkit" / "state.json").read_text())
    assert state["in_flight"]["step"] == kill
    res = run_envkit("setup", "--undo", "--prefix", str(user_dir))  # no --yes: the killed step's files are setup's
    assert res.code == 0, res.err
    assert snapshot(user_dir) == before


def test_killed_setup_resumes_and_claims_what_the_killed_step_made(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    assert run_plan(prefix, kill="torch").returncode == -9
    done = run_plan(prefix)
    assert done.returncode == 0, done.stderr
    state = json.loads((prefix / ".envkit" / "state.json").read_text())
    assert state["in_flight"] is None and "lib/" in state["owned"]
    assert run_envkit("setup", "--undo", "--prefix", str(prefix)).code == 0
    assert not prefix.exists()


# --- read-only and busy prefixes, inside a private mount namespace (root in CI) ----------------


def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True).returncode == 0


needs_unshare = pytest.mark.skipif(not _unshare_ok(), reason="unshare -m / mount not permitted here")


def _in_namespace(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)


def _one_paragraph(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("envkit:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@needs_unshare
def test_undo_on_a_read_only_bind_mount_is_one_paragraph_and_removes_nothing(user_dir: Path) -> None:
    assert run_plan(user_dir, yes=True).returncode == 0
    everything = snapshot(user_dir)
    q = f"'{user_dir}'"
    proc = _in_namespace(f"mount --bind {q} {q} && mount -o remount,bind,ro {q} && {ENVKIT} setup --undo --prefix {q} --yes")
    assert proc.returncode == 2, proc.stderr
    assert "read-only filesystem" in _one_paragraph(proc.stderr) and "nothing was removed" in proc.stderr
    assert snapshot(user_dir) == everything


@needs_unshare
def test_undo_with_a_mount_inside_what_setup_created_is_refused_before_removing(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    assert run_plan(prefix).returncode == 0
    everything = snapshot(prefix)
    proc = _in_namespace(f"mount -t tmpfs -o size=1m tmpfs '{prefix}/etc' && echo keep > '{prefix}/etc/data' "
                         f"&& {ENVKIT} setup --undo --yes --prefix '{prefix}'; rc=$?; test -f '{prefix}/etc/data' || rc=99; exit $rc")
    assert proc.returncode == 2, proc.stderr
    assert "mount point (busy)" in _one_paragraph(proc.stderr) and "nothing was removed" in proc.stderr
    assert snapshot(prefix) == everything


@needs_unshare
def test_setup_and_undo_on_an_empty_mount_point_leave_the_mount_point(tmp_path: Path) -> None:
    point = tmp_path / "mnt"
    point.mkdir()
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    runner = f"{sys.executable} '{script}' '{point}' no >/dev/null"
    proc = _in_namespace(f"mount -t tmpfs -o size=4m tmpfs '{point}' && {runner} && {ENVKIT} setup --undo --prefix '{point}' "
                         f"&& mountpoint -q '{point}' && test -z \"$(ls -A '{point}')\"")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "existed before setup" in proc.stdout and "Traceback" not in proc.stderr
    empty = _in_namespace(f"mount -t tmpfs -o size=1m tmpfs '{point}' && {ENVKIT} setup --undo --prefix '{point}'")
    assert empty.returncode == 2 and "holds no envkit setup" in _one_paragraph(empty.stderr)


def test_a_state_from_before_ownership_was_recorded(tmp_path: Path) -> None:
    """Old states: a prefix setup made gives back its environment entries only; an adopted one only envkit's own files."""
    made = tmp_path / "made"
    assert run_plan(made).returncode == 0
    (made / "outputs").mkdir()
    (made / "outputs" / "ckpt").write_text("keep")
    state_file = made / ".envkit" / "state.json"
    old = {k: v for k, v in json.loads(state_file.read_text()).items() if k not in ("preexisting", "backed_up", "owned", "in_flight")}
    state_file.write_text(json.dumps(old))
    res = run_envkit("setup", "--undo", "--prefix", str(made), "--yes")
    assert res.code == 0, res.err
    assert snapshot(made) == {"outputs": "dir", "outputs/ckpt": b"keep"}
    adopted = tmp_path / "adopted"
    (adopted / "bin").mkdir(parents=True)
    (adopted / "bin" / "tool").write_text("mine")
    assert run_plan(adopted, yes=True).returncode == 0
    state_file = adopted / ".envkit" / "state.json"
    old = {k: v for k, v in json.loads(state_file.read_text()).items() if k not in ("preexisting", "backed_up", "owned", "in_flight")}
    state_file.write_text(json.dumps(old))
    res = run_envkit("setup", "--undo", "--prefix", str(adopted))
    assert res.code == 0, res.err
    assert (adopted / "bin" / "tool").read_text() == "mine" and not (adopted / ".envkit").exists()
    assert not (adopted / "etc" / "conda" / "activate.d" / "envkit.sh").exists()


def _undo_in_a_terminal(prefix: Path, answer: bytes) -> tuple[int, str]:
    """`envkit setup --undo` with stdin/stdout/stderr on a pseudo-terminal, answering its question."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: exec envkit on the terminal
        os.execv(str(ENVKIT), [str(ENVKIT), "setup", "--undo", "--prefix", str(prefix)])
    out = b""
    answered = False
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not answered and b"Go on?" in out:
            os.write(fd, answer)
            answered = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_undo_asks_under_a_terminal_when_unknown_files_are_present(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    assert run_plan(prefix).returncode == 0
    (prefix / "notes.txt").write_text("keep me")
    code, out = _undo_in_a_terminal(prefix, b"n\n")
    assert code == 2 and "notes.txt" in out and "Go on?" in out, out
    assert (prefix / ".envkit" / "state.json").is_file()
    code, out = _undo_in_a_terminal(prefix, b"y\n")
    assert code == 0, out
    assert sorted(p.name for p in prefix.iterdir()) == ["notes.txt"] and (prefix / "notes.txt").read_text() == "keep me"
