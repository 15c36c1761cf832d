"""Python is resolved, not pinned: the profile's range or list, lerobot's Requires-Python, the torch
tuple, the accelerator's wheels and (for a venv) the host's interpreters decide it."""

from __future__ import annotations

from pathlib import Path

import pytest

from envkit.errors import Conflict, EnvkitError
from envkit.profiles import load_profile
from envkit.pyversions import UV_DOWNLOAD, candidates, check_value
from envkit.resolve import resolve
from tests.lerobot_metadata import recorded_extras
from envkit.host import RecordedBoundary, detect

HOSTS = Path(__file__).parent / "data" / "host"

DEBIAN12 = {"3.11": "/usr/bin/python3.11"}
DEBIAN13 = {"3.13": "/usr/bin/python3.13"}


def host(name: str):  # a transcribed Ascend host (tests/data/host/NAME, with its source)
    return detect(RecordedBoundary(HOSTS / name))


def _custom(tmp_path: Path, body: str) -> str:
    path = tmp_path / "custom.toml"
    path.write_text('schema_version = 1\nname = "custom"\nextends = "cpu"\n' + body)
    return str(path)


def test_profile_python_forms() -> None:
    assert candidates("3.11") == ["3.11"]  # schema 1's string still loads and means exactly that
    assert candidates(">=3.10,<3.13") == ["3.12", "3.11", "3.10"]
    assert candidates(["3.12", "3.10"]) == ["3.12", "3.10"]
    assert check_value(">=3.10") is None and check_value(["3.12"]) is None
    assert check_value("three") and check_value([]) and check_value(["3.x"])


def test_old_string_profile_still_loads(tmp_path: Path) -> None:
    prof = load_profile(_custom(tmp_path, 'python = "3.11"\n'))
    assert prof.python == "3.11" and prof.python_value == "3.11"
    r = resolve(prof, None, pythons=DEBIAN12, extras_of=recorded_extras)
    assert r.python == "3.11"


def test_bad_python_field_names_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(EnvkitError, match="'python'") as info:
        load_profile(_custom(tmp_path, 'python = "three"\n'))
    assert "custom.toml" in info.value.paragraph()


def test_conda_takes_the_newest_python_that_fits() -> None:
    r = resolve(load_profile("5090"), None, "lerobot==0.6.1", extras_of=recorded_extras)
    assert (r.python, r.torch["version"], r.lerobot["version"], r.lerobot["extras"]) == ("3.13", "2.8.0", "0.6.1", ["training"])
    assert r.reasons[0].startswith("Python 3.13: the newest") and "conda provides it" in r.reasons[0]
    assert r.conda["specs"][0] == "python 3.13.*"


def test_profile_lerobot_stays_the_seed() -> None:
    assert resolve(load_profile("5090"), None, extras_of=recorded_extras).lerobot["version"] == "0.4.4"
    atlas = resolve(load_profile("atlas-a2"), host("atlas-a2-cann83"), extras_of=recorded_extras)
    assert atlas.lerobot["version"] == "0.4.2" and atlas.lerobot["patch"] == "lerobot-0.4.2-npu.patch"
    assert atlas.python == "3.11"  # torch_npu 2.7.1 for CANN 8.3.RC1 has cp39-cp311 wheels only


def test_venv_takes_the_hosts_interpreter() -> None:
    r = resolve(load_profile("cpu"), None, "lerobot", pythons=DEBIAN13, extras_of=recorded_extras)
    assert (r.python, r.lerobot["version"], r.lerobot["extras"]) == ("3.13", "0.6.1", ["training"])
    assert "/usr/bin/python3.13 on this host" in r.reasons[0]
    old = resolve(load_profile("cpu"), None, "lerobot", pythons=DEBIAN12, extras_of=recorded_extras)
    assert (old.python, old.lerobot["version"], old.lerobot["extras"]) == ("3.11", "0.4.4", [])


def test_venv_prefers_a_present_interpreter_to_a_download() -> None:
    both = {"3.11": "/usr/bin/python3.11", "3.13": UV_DOWNLOAD}
    assert resolve(load_profile("cpu"), None, pythons=both, extras_of=recorded_extras).python == "3.11"
    r = resolve(load_profile("cpu"), None, "lerobot==0.6.1", pythons=both, extras_of=recorded_extras)
    assert r.python == "3.13" and "uv downloads it" in r.reasons[0]


def test_venv_conflict_names_the_flags() -> None:
    with pytest.raises(Conflict) as info:
        resolve(load_profile("cpu"), None, "lerobot==0.6.1", pythons=DEBIAN12, extras_of=recorded_extras)
    text = info.value.paragraph()
    assert "lerobot 0.6.1 requires Python >=3.12, not 3.11" in text
    assert "--python 3.12" in info.value.fix and "--lerobot lerobot==0.4.4" in info.value.fix
    assert "profile" not in info.value.fix  # a flag is the way out, never "write another profile"


def test_explicit_python_wins_and_is_said() -> None:
    r = resolve(load_profile("5090"), None, python="3.12", extras_of=recorded_extras)
    assert r.python == "3.12" and r.reasons[0].startswith("Python 3.12: --python 3.12")
    with pytest.raises(Conflict, match="requires Python >=3.12, not 3.11") as info:
        resolve(load_profile("5090"), None, "lerobot==0.6.1", python="3.11", extras_of=recorded_extras)
    assert "--python" in info.value.fix


def test_accelerator_wheels_limit_python() -> None:
    with pytest.raises(Conflict) as info:
        resolve(load_profile("atlas-a2"), host("atlas-a2-cann83"), "lerobot==0.6.1", extras_of=recorded_extras)
    text = info.value.paragraph()
    assert "torch_npu 2.7.1 has no wheel for Python 3.12" in text
    assert "CANN >=" in info.value.fix and "--lerobot lerobot==0.4.4" in info.value.fix


def test_another_release_goes_without_the_profiles_patch() -> None:
    r = resolve(load_profile("atlas-a2"), host("atlas-a2-cann83"), "lerobot==0.4.4", extras_of=recorded_extras)
    assert r.lerobot["patch"] is None and any("lerobot-0.4.2-npu.patch is written for lerobot 0.4.2" in w for w in r.warnings)


def test_unknown_extras_are_a_warning_not_a_guess() -> None:
    r = resolve(load_profile("cpu"), None, "lerobot==0.6.0", pythons=DEBIAN13, extras_of=recorded_extras)
    assert r.lerobot["extras"] == [] and any("lerobot.requirements" in w for w in r.warnings)


def test_python_flag_takes_a_version_or_an_interpreter(tmp_path: Path) -> None:
    import os
    import sys

    from envkit.pythons import for_resolve, parse_request

    minor = "%d.%d" % sys.version_info[:2]
    assert parse_request(sys.executable) == (minor, os.path.realpath(sys.executable))
    assert parse_request("3.12") == ("3.12", None)
    with pytest.raises(EnvkitError, match="not a minor version"):
        parse_request(str(tmp_path / "no-python"))
    assert for_resolve(sys.executable, "venv", other_host=False) == (minor, {minor: os.path.realpath(sys.executable)})
    assert for_resolve(None, "conda", other_host=False) == (None, None)  # conda provides any Python


def test_a_host_file_brings_its_own_interpreter() -> None:
    from envkit.pythons import for_resolve

    facts = host("atlas-a2-cann83")
    minor = ".".join(facts.python.version.split(".")[:2])
    got = for_resolve(None, "venv", other_host=True, host=facts)
    assert got[0] is None and list(got[1]) == [minor]
