"""`envkit detect --record` / `doctor --record`: the recording replays to what the live run saw,
and no secret or home-directory user name reaches any recorded file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from envkit.accel.ascend.facts import ascend
from envkit.doctor.model import Context
from envkit.host import CommandResult, RecordedBoundary, detect
from envkit.record.boundary import RecordingBoundary
from envkit.record.redact import Redactor, redact_text
from envkit.record.scenario import ScenarioDir, record_host
from envkit.record.verdicts import replay_context, replay_results
from tests.scenarios import DATA, RECORDED, host_scenarios, is_recorded, meta, probe_scenarios, scenario_id

TRANSCRIBED_HOSTS = [p for p in host_scenarios() if not is_recorded(p)]
PLANTED_TOKEN = "hf_PlantedTokenAbcdefghijklmnop123456"
PLANTED_PASSWORD = "s3cr3tPlantedPassw0rd"
PLANTED_USER = "plantuser"


def envkit(args: list[str], env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "import sys; from envkit.cli import main; sys.exit(main())", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)


def all_text(root: Path) -> str:
    """Every recorded file's name and content, for grepping."""
    parts = []
    for p in sorted(root.rglob("*")):
        parts.append(str(p.relative_to(root)))
        if p.is_file():
            parts.append(p.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


# --- redaction rules -----------------------------------------------------------------------


def test_redact_text_removes_url_credentials_tokens_and_secret_assignments() -> None:
    text = (f"PIP_EXTRA_INDEX_URL=https://alice:{PLANTED_PASSWORD}@pypi.example/simple\n"
            f"token {PLANTED_TOKEN} here\nexport MY_API_KEY=abc123\nurl https://pypi.org/simple ok\n"
            "GET /x?token=qwerty987&page=2\nlerobot-train-tokenizer = lerobot.scripts.lerobot_train_tokenizer:main")
    out, kinds = redact_text(text)
    assert PLANTED_PASSWORD not in out and PLANTED_TOKEN not in out and "abc123" not in out and "alice" not in out
    assert "qwerty987" not in out and "page=2" in out and "lerobot_train_tokenizer:main" in out
    assert "https://***@pypi.example/simple" in out and "https://pypi.org/simple ok" in out
    assert sorted(set(kinds)) == ["a secret-named value (token/key/password)", "a token", "credentials in a URL"]
    assert redact_text(out) == (out, [])  # idempotent: a redacted text stays as it is


def test_redactor_personal_paths_and_secret_keys() -> None:
    r = Redactor(home="/data/people/carol", users=["carol", "root"], hostname=False)
    data = {"PATH": "/home/bob/bin:/data/people/carol/.local/bin:/usr/bin", "HF_TOKEN": "whatever",
            "console_scripts": {"lerobot-train-tokenizer": "lerobot.x:main"},
            "nested": ["/Users/dave/x", "/root/ok", "/srv/carol/env"]}
    out = r.data(data, "env.json")
    text = json.dumps(out)
    for name in ("bob", "carol", "dave", "whatever"):
        assert name not in text
    assert out["PATH"] == "/home/USER/bin:/home/USER/.local/bin:/usr/bin"
    assert out["nested"][1] == "/root/ok" and out["HF_TOKEN"] == "***"
    assert out["console_scripts"] == {"lerobot-train-tokenizer": "lerobot.x:main"}  # not a variable name
    left = "\n".join(r.left_out())
    assert "user name in a home path" in left and "env.json" in left and "carol" not in left


# --- the boundary recorder, against every transcribed machine -------------------------------


@pytest.mark.parametrize("path", TRANSCRIBED_HOSTS, ids=scenario_id)
def test_recording_a_replayed_machine_replays_identically(path: Path, tmp_path: Path) -> None:
    # Record through the recorder with a transcribed GPU/NPU machine as the "real" boundary: the
    # written directory must replay to the same facts (NVML, npu-smi, CANN files, env, tools).
    inner = RecordedBoundary(path)
    boundary = RecordingBoundary(inner)
    facts = detect(boundary)
    out = ScenarioDir(tmp_path / "rec")
    live, matches = record_host(out, boundary, facts, Redactor(home="/nonexistent", users=()))
    out.commit()
    assert matches and live == facts.to_dict()
    assert detect(RecordedBoundary(tmp_path / "rec")) == facts


def test_non_zero_exit_status_is_recorded_and_replayed(tmp_path: Path) -> None:
    class Inner(RecordedBoundary):
        def run(self, argv, timeout):  # type: ignore[no-untyped-def]
            return CommandResult(3, "dcmi module initialize failed. ret is -8005\n")

    inner = Inner(DATA / "host" / "atlas-a2-cann83")
    boundary = RecordingBoundary(inner)
    facts = detect(boundary)
    assert ascend(facts).npu_smi is not None and ascend(facts).npu_smi.error == "`npu-smi info` exited 3"
    out = ScenarioDir(tmp_path / "rec")
    _, matches = record_host(out, boundary, facts, Redactor(home="/nonexistent", users=()))
    out.commit()
    assert matches
    assert (tmp_path / "rec" / "commands" / "npu-smi_info.rc").read_text().strip() == "3"


# --- round trips on this machine -----------------------------------------------------------


def test_detect_record_replays_to_the_live_detect_json(tmp_path: Path) -> None:
    rec = tmp_path / "host-rec"
    proc = envkit(["detect", "--record", str(rec), "--json"])
    assert proc.returncode == 0, proc.stderr
    live = json.loads(proc.stdout)
    replayed = detect(RecordedBoundary(rec)).to_dict()
    assert replayed == Redactor().data(live, "-")  # identical, once this machine's personal paths are masked
    assert replayed == json.loads((rec / "host.json").read_text())
    m = meta(rec)
    assert m["recorded"] is True and m["transcribed"] is False
    assert m["recording"]["replay_matches"] is True and m["recording"]["command"].startswith("envkit detect --record")
    assert "recorded this machine" in proc.stderr and "left out" in proc.stderr


def test_doctor_record_replays_to_the_same_verdicts(tmp_path: Path) -> None:
    rec = tmp_path / "doctor-rec"
    # --profile cpu: the replay resolves the profile again from context.json.
    proc = envkit(["doctor", "--python", sys.executable, "--profile", "cpu", "--no-smoke", "--record", str(rec), "--json"])
    assert proc.returncode in (0, 1), proc.stderr
    live = {c["id"]: c["status"] for c in json.loads(proc.stdout)["checks"]}
    expect = json.loads((rec / "expect.json").read_text())
    assert expect == live  # --no-smoke: every verdict is replayable, none was dropped
    replayed = replay_results(replay_context(rec))
    assert {cid: replayed[cid].status.value for cid in expect} == expect
    assert detect(RecordedBoundary(rec)).to_dict() == json.loads((rec / "host.json").read_text())
    assert json.loads((rec / "context.json").read_text())["profile"] == "cpu"
    m = meta(rec)
    assert m["recording"]["replay_matches"] is True and m["recording"]["checks_recorded"] == len(live)
    assert "RECORDED" in (rec / "SOURCE.md").read_text() and "envkit doctor" in (rec / "SOURCE.md").read_text()


def test_planted_secrets_and_home_user_never_reach_a_recorded_file(tmp_path: Path) -> None:
    home = tmp_path / "home" / PLANTED_USER
    (home / "miniconda3" / "bin").mkdir(parents=True)
    host = socket.gethostname()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH")}
    env.update({
        "HOME": str(home), "USER": PLANTED_USER, "LOGNAME": PLANTED_USER,
        "HF_TOKEN": PLANTED_TOKEN,  # the probe drops it by name; must not appear anyway
        "PIP_EXTRA_INDEX_URL": f"https://{PLANTED_USER}:{PLANTED_PASSWORD}@pypi.example/simple",
        # Read and carried: detect reads CONDA_EXE and ASCEND_HOME_PATH; the probe carries HF_*, TORCH_*, ENVKIT_*.
        "CONDA_EXE": str(home / "miniconda3" / "bin" / "conda"),
        "ASCEND_HOME_PATH": f"/home/{PLANTED_USER}/Ascend/ascend-toolkit/latest",
        "HF_ENDPOINT": f"https://tok:{PLANTED_TOKEN}@hub.example",
        "TORCH_HOME": f"/home/{PLANTED_USER}/.cache/torch",
        "ENVKIT_PLANTED_INDEX": f"https://{PLANTED_USER}:{PLANTED_PASSWORD}@mirror.example/simple",
        "ENVKIT_PLANTED_HOST": f"built on {host}",
    })
    rec_host, rec_doc = tmp_path / "host-rec", tmp_path / "doctor-rec"
    p1 = envkit(["detect", "--record", str(rec_host), "--redact-hostname", "--json"], env)
    p2 = envkit(["doctor", "--python", sys.executable, "--no-smoke", "--record", str(rec_doc), "--redact-hostname"], env)
    assert p1.returncode == 0, p1.stderr
    assert p2.returncode in (0, 1), p2.stderr
    assert json.loads(p1.stdout)["tools"]["conda"] == env["CONDA_EXE"]  # the planted values were really read
    probe = json.loads((rec_doc / "probe.json").read_text())
    assert probe["env"]["HF_ENDPOINT"] == "https://***@hub.example"  # ... and really carried
    for rec in (rec_host, rec_doc):
        text = all_text(rec)
        assert PLANTED_TOKEN not in text and PLANTED_PASSWORD not in text
        assert PLANTED_USER not in text and str(home) not in text
        if len(host) >= 3 and host not in ("localhost",):
            assert host not in text
        assert meta(rec)["recording"]["replay_matches"] is True
    assert "user name in a home path" in p1.stderr
    assert "credentials in a URL" in p2.stderr and "the host name" in p2.stderr
    for err in (p1.stderr, p2.stderr):
        assert PLANTED_TOKEN not in err and PLANTED_PASSWORD not in err and PLANTED_USER not in err


# --- the directory -------------------------------------------------------------------------


def test_record_refuses_a_directory_it_did_not_record(tmp_path: Path) -> None:
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    proc = envkit(["detect", "--record", str(d)])
    assert proc.returncode == 2 and "not an earlier envkit recording" in proc.stderr
    assert (d / "notes.txt").read_text() == "keep me" and sorted(p.name for p in d.iterdir()) == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_record_into_an_impossible_place_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    for args in (["detect", "--record", str(tmp_path / "afile")],
                 ["detect", "--record", str(tmp_path / "afile" / "rec")],
                 ["doctor", "--python", sys.executable, "--no-smoke", "--record", str(tmp_path / "afile" / "rec")]):
        proc = envkit(args)
        assert proc.returncode == 2 and "--record" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert (tmp_path / "afile").read_text() == "x"


def test_recording_again_replaces_an_earlier_recording(tmp_path: Path) -> None:
    d = tmp_path / "rec"
    assert envkit(["detect", "--record", str(d)]).returncode == 0
    (d / "host.json").write_text("{}")  # envkit's own file: replaced by the new recording
    assert envkit(["detect", "--record", str(d)]).returncode == 0
    assert (d / "host.json").read_text() != "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]


# --- discovery and the report --------------------------------------------------------------


def test_committed_recording_is_discovered_as_host_and_probe_scenario() -> None:
    recorded = [p for p in host_scenarios() if p.parent == RECORDED]
    assert recorded, "tests/data/recorded holds at least one real recording"
    assert set(recorded) <= set(probe_scenarios()) | set(recorded)
    for p in recorded:
        assert is_recorded(p) and (p / "SOURCE.md").is_file()


def test_report_says_how_to_record_a_scenario() -> None:
    from envkit.doctor.report import markdown

    text = markdown(Context(probe={}, host={}), [])
    assert "envkit doctor --no-smoke --record" in text and "attach" in text


@pytest.mark.slow
def test_gpu_recording_script_installs_offline_and_records(tmp_path: Path) -> None:
    # bench/record_on_gpu.sh as a GPU lab would run it, with this machine standing in: wheels
    # prepared (PyPI), then envkit installed with --no-index and both recordings made.
    repo = Path(__file__).resolve().parents[1]
    script = repo / "bench" / "record_on_gpu.sh"
    py = f"{sys.version_info[0]}.{sys.version_info[1]}"
    env = dict(os.environ, PY_VERSION=py, PIP=str(Path(sys.executable).with_name("pip")),
               ENVKIT_VENV=str(tmp_path / "venv"), NAME="here")
    wheels, out = tmp_path / "wheels", tmp_path / "out"
    prep = subprocess.run(["bash", str(script), "prepare", str(wheels)], env=env, capture_output=True, text=True, timeout=600)
    assert prep.returncode == 0, prep.stderr[-2000:]
    rec = subprocess.run(["bash", str(script), "record", str(wheels), str(out), sys.executable], env=env,
                         capture_output=True, text=True, timeout=600)
    assert rec.returncode == 0, rec.stderr[-2000:]
    assert (out / "recording.tgz").is_file()
    doctor_dir = out / "doctor-here"
    assert meta(out / "detect-here")["recording"]["replay_matches"] is True
    assert meta(doctor_dir)["recording"]["replay_matches"] is True
    expect = json.loads((doctor_dir / "expect.json").read_text())
    replayed = replay_results(replay_context(doctor_dir))
    assert {cid: replayed[cid].status.value for cid in expect} == expect
