"""No credential leaves envkit: index URLs with userinfo and token variables, in every stream and file."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from envkit.secrets import RedactingStream, redact
from tests.cli_util import run_envkit

PW = "s3cr3t-PLANTED-pw"
TOKEN = "hf_PLANTEDtoken0123456789"
NO_PIP_CONFIG = {"PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": "", "PIP_INDEX_URL": "",
                 "PIP_CONSTRAINT": "", "PIP_NO_INDEX": "", "PIP_TRUSTED_HOST": ""}


def test_redact_masks_the_password_and_keeps_the_rest() -> None:
    assert redact(f"https://alice:{PW}@mirror.example/simple") == "https://alice:***@mirror.example/simple"
    assert redact("--index 'lab=https://u:p%40ss@h:8443/s'") == "--index 'lab=https://u:***@h:8443/s'"
    assert redact('{"url": "https://u:pa@ss@h/x"}') == '{"url": "https://u:***@h/x"}'  # an unescaped @ in the password
    assert redact("https://ghp_tokenonly@h/x") == "https://***@h/x"  # a bare token in the user part
    assert redact("lerobot @ git+https://github.com/huggingface/lerobot@v0.4.4") == "lerobot @ git+https://github.com/huggingface/lerobot@v0.4.4"
    assert redact("file:///opt/wheels and user@example.com") == "file:///opt/wheels and user@example.com"
    env = {"HF_TOKEN": TOKEN, "DB_PASSWORD": "hunter2hunter2", "MY_SECRET": "abcdef123", "PATH": "/usr/bin"}
    assert redact(f"token={TOKEN} pw=hunter2hunter2 s=abcdef123 /usr/bin", env) == "token=*** pw=*** s=*** /usr/bin"
    env = {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIK7MDENG", "AZURE_STORAGE_KEY": "Eby8vdM02xNO", "HOME": "/root",
           "SMTP_PASSWORD_FILE": "/run/secrets/smtp", "SSH_AUTH_SOCK": "/tmp/ssh-agent.sock", "MONKEYS": "bananas"}
    assert redact("wJalrXUtnFEMIK7MDENG Eby8vdM02xNO /run/secrets/smtp /tmp/ssh-agent.sock bananas /root", env) == \
        "*** *** *** /tmp/ssh-agent.sock bananas /root"


def test_redacting_stream_sees_a_url_split_across_writes() -> None:
    import io

    inner = io.StringIO()
    stream = RedactingStream(inner)
    stream.write("https://alice:s3cr")
    stream.write(f"et@h/simple\nnext {PW[:3]}")
    stream.flush()
    assert inner.getvalue() == f"https://alice:***@h/simple\nnext {PW[:3]}"


@pytest.fixture()
def mirror_profile(tmp_path: Path) -> Path:
    path = tmp_path / "cpu-mirror.toml"
    path.write_text(f"""schema_version = 1
extends = "cpu"
name = "cpu-mirror"

[[indexes]]
name = "lab-mirror"
url = "https://alice:{PW}@127.0.0.1:9/simple"
packages = ["torch", "torchvision"]
explicit = true
""")
    return path


def _clean(*texts: str) -> None:
    for text in texts:
        assert PW not in text and TOKEN not in text, text[:2000]


def test_a_lock_manifest_records_index_urls_without_credentials(mirror_profile: Path) -> None:
    from envkit.hostfacts import load_host_file
    from envkit.lock.manifest import pypi_inputs
    from envkit.profiles import load_profile
    from envkit.resolve import resolve

    root = Path(__file__).resolve().parent.parent
    resolved = resolve(load_profile(str(mirror_profile)), load_host_file(root / "docs/examples/host-cpu.json"), None, None)
    inputs = pypi_inputs(load_profile(str(mirror_profile)), resolved, "2026-11-26T00:00:00Z", None)
    assert "https://alice:***@127.0.0.1:9/simple" in inputs["indexes"]
    _clean(repr(inputs))


def test_resolve_and_dry_run_never_print_index_credentials(mirror_profile: Path, tmp_path: Path) -> None:
    pip_conf = tmp_path / "pip.conf"
    pip_conf.write_text(f"[global]\nextra-index-url = https://carol:{PW}@pipconf.example.invalid/simple\n")
    sources = [
        ({**NO_PIP_CONFIG}, ()),  # the profile's [[indexes]]
        ({**NO_PIP_CONFIG, "PIP_EXTRA_INDEX_URL": f"https://bob:{PW}@extra.example.invalid/simple"}, ()),
        ({**NO_PIP_CONFIG, "PIP_INDEX_URL": f"https://bob:{PW}@index.example.invalid/simple"}, ()),
        ({**NO_PIP_CONFIG, "PIP_CONFIG_FILE": str(pip_conf)}, ()),
        ({**NO_PIP_CONFIG}, ("--index-url", f"https://dave:{PW}@cli.example.invalid/simple")),
    ]
    for env, extra in sources:
        for fmt in ((), ("--json",)):
            res = run_envkit("resolve", "--profile", str(mirror_profile), *fmt, env=env)
            assert res.code == 0, res.err
            _clean(res.out, res.err)
            dry = run_envkit("setup", "--profile", str(mirror_profile), "--dry-run", "--prefix", str(tmp_path / "env"),
                             *extra, *fmt, env=env)
            assert dry.code == 0, dry.err
            _clean(dry.out, dry.err)
            assert "***@" in dry.out  # the URL is still shown, with its user


def test_a_real_setup_keeps_credentials_out_of_output_log_and_state(mirror_profile: Path, tmp_path: Path) -> None:
    """The install commands get the real URL (uv fails on the unreachable host); nothing shows it."""
    if not shutil.which("python3.11"):
        pytest.skip("needs python3.11 on PATH for the cpu profile's venv")
    prefix = tmp_path / "env"
    env = {**NO_PIP_CONFIG, "PIP_EXTRA_INDEX_URL": f"https://bob:{PW}@127.0.0.1:9/extra", "HF_TOKEN": TOKEN,
           "UV_HTTP_TIMEOUT": "3", "UV_HTTP_RETRIES": "0"}
    res = run_envkit("setup", "--profile", str(mirror_profile), "--prefix", str(prefix), env=env, timeout=300)
    assert res.code == 1, res.err
    assert "setup step 'torch'" in res.err
    log = (prefix / ".envkit" / "setup.log").read_text()
    assert "127.0.0.1:9" in log and "bob:***@" in log  # the command that ran is logged, masked
    _clean(res.out, res.err, log, (prefix / ".envkit" / "state.json").read_text())
    env["UV_EXTRA_INDEX_URL"] = f"https://erin:{PW}@127.0.0.1:9/uv"  # uv's own configuration: uv prints it, envkit masks it
    again = run_envkit("setup", "--profile", str(mirror_profile), "--prefix", str(prefix), "--json", env=env, timeout=300)
    assert again.code == 1
    _clean(again.out, again.err)
    for path in prefix.rglob("*"):  # every file envkit wrote in the prefix
        if path.is_file() and ".envkit" in path.parts:
            _clean(path.read_text(errors="replace"))


def test_doctor_report_and_json_hold_no_token(tmp_path: Path) -> None:
    env = {"HF_TOKEN": TOKEN, "WANDB_API_KEY": "wandb0123456789abcdef", "LAB_PASSWORD": PW, "MY_SECRET": PW + "2",
           "PIP_EXTRA_INDEX_URL": f"https://bob:{PW}@h.example.invalid/simple"}
    for mode in ("--json", "--report"):
        res = run_envkit("doctor", "--python", sys.executable, "--no-smoke", mode, env=env, timeout=300)
        assert res.code in (0, 1), res.err
        assert "Traceback" not in res.err
        _clean(res.out, res.err)
        assert "wandb0123456789abcdef" not in res.out + res.err


def test_credential_options_passed_to_lerobot_train_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """`envkit launch ... -- --wandb.api_key=K`: the dry-run command, the JSON plan and the training log
    (lerobot echoes its config) show *** for K; look-alike options keep their values."""
    from envkit import secrets as r

    monkeypatch.setattr(r, "_REGISTERED", set())
    text = "python -m lerobot.scripts.lerobot_train --wandb.api_key=sekrit123 --hub_token abcdefgh --policy.tokenizer_name=bert-base"
    out = redact(text)
    assert "sekrit123" not in out and "abcdefgh" not in out and "--wandb.api_key=***" in out and "--hub_token ***" in out
    assert "--policy.tokenizer_name=bert-base" in out
    # the values themselves, wherever they turn up later (lerobot's config dump), once the argv is seen
    r.register_argv(["launch", "--prefix", "/e", "--", "--wandb.api_key=sekrit123", "--hub_token", "abcdefgh", "--steps=3"])
    dump = "{'wandb': {'enable': True, 'api_key': 'sekrit123'}, 'hub_token': 'abcdefgh', 'steps': 3}"
    assert redact(dump) == "{'wandb': {'enable': True, 'api_key': '***'}, 'hub_token': '***', 'steps': 3}"


def test_the_cli_registers_credential_options_before_printing_anything(tmp_path: Path) -> None:
    """Through the real CLI: an error that quotes the arguments back still masks the key."""
    res = run_envkit("doctor", "--prefix", str(tmp_path / "none"), "--check", "--wandb.api_key=sekrit123")
    assert res.code == 2 and "--wandb.api_key=***" in res.err and "sekrit123" not in res.out + res.err


# One table, every output path: (name, is it a secret?). The value is long enough to be masked by value.
SECRET_NAMES = [
    ("HF_TOKEN", True), ("AWS_SECRET_ACCESS_KEY", True), ("GITHUB_AUTH", True), ("DB_PASSWD", True),
    ("WANDB_API_KEY", True), ("SMTP_PASSWORD_FILE", True), ("GHTOKEN", True), ("LAB_DBPASSWORD", True),
    ("AZURE_STORAGE_KEY", True), ("HF_HUB_TOKEN", True), ("NPM_CREDENTIALS", True), ("DB_PASS", True),
    ("KEYBOARD_LAYOUT", False), ("SSH_AUTH_SOCK", False), ("HF_HUB_OFFLINE", False), ("MONKEYS", False),
    ("TOKENIZERS_PARALLELISM", False), ("HF_HOME", False), ("ACCELERATE_USE_CPU", False), ("PASSENGER_COUNT", False),
]


def _values() -> dict[str, str]:
    return {name: f"value-of-{name.lower()}-0123" for name, _ in SECRET_NAMES}


def test_one_rule_for_secret_names_in_every_output_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import json
    import re
    import subprocess

    from envkit import secrets
    from envkit.record.redact import Redactor
    from envkit.targetenv import probe

    env = _values()
    prefixes = tuple(sorted({n.split("_")[0] + "_" if "_" in n else n for n in env}))
    monkeypatch.setattr(secrets, "_REGISTERED", set())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    text = " ".join(f"{n}={v}" for n, v in env.items())
    screen = secrets.redact(text, env)  # screen, logs (RunContext.write), error paragraphs
    data = secrets.redact_data({n: v for n, v in env.items()})  # JSON documents (launch --json, manifests)
    recording = Redactor(home="/nonexistent", users=()).data({"env": dict(env), "text": text}, "env.json")
    monkeypatch.setattr(probe, "SECRET", re.compile(secrets.probe_rule(), re.I))
    doctor_env = probe.safe_env(prefixes)  # the doctor's probe, as collect.py passes the rule
    spec = {"count": None, "dists": {}, "env_prefixes": list(prefixes), "secret_names": secrets.probe_rule()}
    target = Path(secrets.__file__).parent / "launch" / "target_probe.py"
    launch_env = json.loads(subprocess.run([sys.executable, str(target), json.dumps(spec)], capture_output=True,
                                           text=True, check=True, env={**os.environ, **env}).stdout)["env"]
    secrets.register_env(env)  # a profile's [env]: state.json (redact with environ={}) masks registered values
    state = secrets.redact(json.dumps(env), environ={})
    for name, secret in SECRET_NAMES:
        value = env[name]
        assert secrets.is_secret_name(name) is secret, name
        assert (value not in screen) is secret, (name, screen)
        assert (data[name] == secrets.MASK) is secret, name
        assert (recording["env"][name] == secrets.MASK) is secret, name
        assert (value not in recording["text"]) is secret, name
        assert (name not in doctor_env) is secret, name
        assert (name not in launch_env) is secret, name
        assert (value not in state) is secret, name


def test_the_probes_carry_nothing_without_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: a probe run without envkit's rule carries no variable out at all."""
    from envkit.targetenv import probe

    monkeypatch.setattr(probe, "SECRET", None)
    monkeypatch.setenv("HF_HOME", "/tmp/hf")
    assert probe.safe_env() == {}


def test_option_values_with_quotes_and_commas_are_masked_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from envkit import secrets

    monkeypatch.setattr(secrets, "_REGISTERED", set())
    for arg, masked in (('--hub_token="ab,cd\'ef gh"', "--hub_token=***"), ("--wandb.api_key=a,b\"c'd", "--wandb.api_key=***"),
                        ("--hub_token 'x\"y,z'", "--hub_token ***")):
        assert secrets.redact(f"lerobot-train {arg} --steps=3") == f"lerobot-train {masked} --steps=3", arg


def test_profile_env_secrets_never_printed(tmp_path: Path) -> None:
    """[env] HF_TOKEN = "..." in a profile: setup --dry-run (text and JSON) and resolve never show it."""
    profile = tmp_path / "tok.toml"
    profile.write_text(f'schema_version = 1\nextends = "cpu"\nname = "tok"\n\n[env]\nHF_TOKEN = "{TOKEN}"\n'
                       f'LAB_DB_PASSWD = "{PW}"\nHF_HUB_OFFLINE = "1"\n')
    for fmt in ((), ("--json",)):
        dry = run_envkit("setup", "--profile", str(profile), "--dry-run", "--prefix", str(tmp_path / "env"), *fmt,
                         env=NO_PIP_CONFIG)
        assert dry.code == 0, dry.err
        _clean(dry.out, dry.err)
        res = run_envkit("resolve", "--profile", str(profile), *fmt, env=NO_PIP_CONFIG)
        assert res.code == 0, res.err
        _clean(res.out, res.err)


@pytest.mark.parametrize("name", ["hub_token", "wandb.api_key", "db_passwd", "github_auth", "policy.tokenizer_name",
                                  "keyboard_layout", "dataset.repo_id", "api-key", "SMTP_PASSWORD_FILE", "monkeys"])
def test_options_and_recorded_params_follow_the_one_name_rule(name: str) -> None:
    """Screen redaction of `--NAME=V` and the recordings' scrub of `NAME=V` both ask is_secret_name."""
    from envkit.secrets import is_secret_name, scrub

    value = "v4lue-0f-the-option"
    secret = is_secret_name(name)
    assert (value not in redact(f"lerobot-train --{name}={value} --steps=3")) == secret
    assert (value not in redact(f"lerobot-train --verbose --{name} {value}")) == secret
    assert (value not in scrub(f"https://hub.example/x?{name}={value}&a=1")[0]) == secret
