"""The PyPI layer locked by uv against real PyPI (network), the manifest and --check, the CLI."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

from envkit.lock import check, lock, read_lock
from envkit.lock.pypi import _via_graph, normalize_date, target_tags
from tests.cli_util import run_envkit

REPO = Path(__file__).resolve().parents[1]


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/uv/", timeout=5):
            return True
    except Exception:  # noqa: BLE001 - any failure means: skip
        return False


needs_pypi = pytest.mark.skipif(not _pypi_reachable(), reason="PyPI is unreachable")


def test_normalize_date_and_tags() -> None:
    assert normalize_date("2026-11-01") == "2026-11-01T00:00:00Z"
    tags = target_tags("linux-aarch64", "3.10")
    assert tags[0] == "cp310-cp310-manylinux_2_28_aarch64" and "py3-none-any" in tags
    assert not any("x86_64" in t for t in tags)


def test_via_graph_inverts_annotations() -> None:
    text = "a==1\n    # via b\nc==2\n    # via\n    #   b\n    #   -r requirements.in\n"
    assert _via_graph(text, {"a": "1", "c": "2"}) == {"b": {"a": "==1", "c": "==2"}}


@pytest.mark.network
@needs_pypi
def test_lock_three_profiles_byte_identical_and_fresh(tmp_path: Path) -> None:
    plans = [("cpu", "linux-64"), ("5090", "linux-64"), ("atlas-a2", "linux-aarch64")]
    for profile, platform in plans:
        lock([profile], [platform], layer="pypi", out_dir=tmp_path)
    first = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for profile, platform in plans:
        lock([profile], [platform], layer="pypi", out_dir=tmp_path)
    assert first == {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert all(r.ok and r.judged for p, plat in plans for r in check([p], [plat], layer="pypi", out_dir=tmp_path))

    atlas = read_lock(tmp_path / "atlas-a2")
    pins = {p.name: p.version for p in atlas.pip_packages("linux-aarch64")}
    assert pins["torch"] == "2.7.1" and pins["torchvision"] == "0.22.1" and pins["lerobot"] == "0.4.2"
    assert pins["torch-npu"].startswith("2.7.1") and "torchcodec" not in pins
    evdev = next(p for p in atlas.pip_packages("linux-aarch64") if p.name == "evdev")
    assert evdev.url.endswith(".tar.gz") and len(evdev.hash.sha256) == 64  # sdist only
    torch = next(p for p in atlas.pip_packages("linux-aarch64") if p.name == "torch")
    assert torch.url.endswith("manylinux_2_28_aarch64.whl")
    req = atlas.pip_requirements["linux-aarch64"].read_text()
    assert "torch==2.7.1 \\\n    --hash=sha256:" in req

    gpu = read_lock(tmp_path / "5090")
    assert {p.name: p.version for p in gpu.pip_packages("linux-64")}["torch"] == "2.8.0"
    assert all(p.hash.sha256 and p.url.startswith("https://") for p in gpu.pip_packages("linux-64"))


@pytest.mark.network
@needs_pypi
def test_check_fails_after_profile_edit_naming_it(tmp_path: Path) -> None:
    prof = tmp_path / "mine.toml"
    base = REPO / "profiles" / "cpu.toml"
    prof.write_text(f'schema_version = 1\nname = "mine"\nextends = "{base}"\n')
    out = tmp_path / "lockfiles"
    res = run_envkit("lock", "--profile", str(prof), "--platform", "linux-64", "--layer", "pypi", "--lockfiles", str(out), timeout=180)
    assert res.code == 0, res.err
    only = ("--platform", "linux-64", "--layer", "pypi")
    assert run_envkit("lock", "--check", "--profile", str(prof), *only, "--lockfiles", str(out)).code == 0
    prof.write_text(prof.read_text() + '\n[env]\nMUJOCO_GL = "osmesa"\n')
    res = run_envkit("lock", "--check", "--profile", str(prof), *only, "--lockfiles", str(out))
    assert res.code == 1
    assert f"profile 'mine' ({prof})" in res.err and "pypi layer for linux-64" in res.err


def test_check_names_edited_lockfile_and_notes_other_uv(tmp_path: Path) -> None:
    """The committed lockfiles: fresh as committed; a hand edit is stale; another uv is only a note."""
    shutil.copytree(REPO / "lockfiles", tmp_path / "lockfiles")
    out = tmp_path / "lockfiles"
    fresh = check(out_dir=out, layer="pypi", skip_unreachable=True)
    assert all(r.ok for r in fresh), [r.stale for r in fresh]
    txt = out / "5090" / "pypi-linux-64.txt"
    txt.write_text(txt.read_text().replace("torch==2.8.0", "torch==2.8.1"))
    man = out / "cpu" / "manifest.json"
    man.write_text(man.read_text().replace('"uv": "', '"uv": "0.0.1-'))
    results = {r.profile: r for r in check(out_dir=out, layer="pypi", skip_unreachable=True)}
    assert any("pypi-linux-64.txt was edited" in s for s in results["5090"].stale)
    assert results["cpu"].ok, results["cpu"].stale
    assert any("locked with uv 0.0.1-" in n and "not an input" in n for n in results["cpu"].notes)
    assert results["atlas-a2"].ok


def test_legacy_manifest_with_uv_among_inputs_is_fresh(tmp_path: Path) -> None:
    """Manifests written before tools were split out kept "uv" in the inputs: it is read as a tool."""
    import json

    shutil.copytree(REPO / "lockfiles" / "cpu", tmp_path / "cpu")
    man_path = tmp_path / "cpu" / "manifest.json"
    man = json.loads(man_path.read_text())
    for entry in man["layers"]["pypi"].values():
        entry["inputs"]["uv"] = "0.9.1"
        del entry["tools"]
    man_path.write_text(json.dumps(man))
    (res,) = check(["cpu"], layer="pypi", out_dir=tmp_path)
    assert res.ok, res.stale
    assert all("locked with uv 0.9.1" in n for n in res.notes) and len(res.notes) == 2


def test_content_hash_ignores_tool_versions() -> None:
    from envkit.lock.manifest import inputs_digest

    base = {"pypi": {"profile": "p", "resolved": "r", "exclude_newer": "2026-11-01T00:00:00Z"}}
    assert inputs_digest(base) == inputs_digest({"pypi": {**base["pypi"], "uv": "0.13.10"}})
    assert inputs_digest(base) != inputs_digest({"pypi": {**base["pypi"], "resolved": "other"}})


def test_package_diff_names_versions_and_hashes() -> None:
    from envkit.lock.pypi import package_diff

    a = "torch==2.8.0 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via x\nsix==1.16.0 \\\n    --hash=sha256:" + "b" * 64 + "\n"
    assert package_diff(a, a) == []
    assert package_diff(a, a.replace("2.8.0", "2.8.1")) == ["torch 2.8.0 -> 2.8.1"]
    assert package_diff(a, a.replace("b" * 64, "c" * 64)) == ["six 1.16.0: other file hashes"]
    assert package_diff(a, a.split("six")[0]) == ["six 1.16.0 dropped"]


def _uv_venv(root: Path, version: str) -> Path:
    """A venv holding one real uv release from PyPI; its binary."""
    import subprocess
    import sys

    venv = root / f"uv-{version}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"uv=={version}"], check=True, timeout=300)
    return venv / "bin" / "uv"


@pytest.mark.network
@needs_pypi
def test_lock_with_one_uv_check_with_another(tmp_path: Path) -> None:
    """Two real uv releases: the same packages are fresh (--resolve says so); a changed pin is stale, named."""
    import os

    old_uv, new_uv = _uv_venv(tmp_path, "0.13.9"), _uv_venv(tmp_path, "0.13.10")
    prof = tmp_path / "mine.toml"
    prof.write_text(f'schema_version = 1\nname = "mine"\nextends = "{REPO / "profiles" / "cpu.toml"}"\n')
    out = tmp_path / "lockfiles"
    only = ("--profile", str(prof), "--platform", "linux-64", "--layer", "pypi", "--lockfiles", str(out))
    res = run_envkit("lock", *only, env={**os.environ, "ENVKIT_UV": str(old_uv)}, timeout=300)
    assert res.code == 0, res.err
    newer = {**os.environ, "ENVKIT_UV": str(new_uv)}
    plain = run_envkit("lock", "--check", *only, env=newer)
    assert plain.code == 0, plain.err
    assert "locked with uv 0.13.9, this is uv 0.13.10" in plain.err
    again = run_envkit("lock", "--check", "--resolve", *only, env=newer, timeout=300)
    assert again.code == 0, again.err
    assert "uv 0.13.9 -> 0.13.10, same packages: fresh" in again.err
    prof.write_text(prof.read_text() + '\n[packages]\ntorchcodec = ">=0.11.1,<0.17"\n')
    stale = run_envkit("lock", "--check", "--resolve", *only, env=newer, timeout=300)
    assert stale.code == 1
    stale_lines = [ln for ln in stale.err.splitlines() if ": stale: " in ln]
    assert stale_lines and all("uv 0." not in ln.split(": stale: ")[1] for ln in stale_lines), stale.err
    assert f"profile 'mine' ({prof}) changed" in stale.err


def test_unreachable_index_fails_fast_and_clearly(tmp_path: Path) -> None:
    prof = tmp_path / "far.toml"
    prof.write_text(
        f'schema_version = 1\nname = "far"\nextends = "{REPO / "profiles" / "atlas-a2.toml"}"\n'
        '[[platform.linux-64.indexes]]\nname = "nowhere"\nurl = "https://nowhere.invalid/whl/cpu"\n'
        'packages = ["torch", "torchvision"]\nexplicit = true\n')
    res = run_envkit("lock", "--profile", str(prof), "--platform", "linux-64", "--layer", "pypi", "--lockfiles", str(tmp_path / "l"), timeout=30)
    assert res.code == 1 and "Traceback" not in res.err
    assert "index 'nowhere' (https://nowhere.invalid/whl/cpu)" in res.err and "--wheels DIR" in res.err
    assert not (tmp_path / "l" / "far" / "pypi-linux-64.txt").exists()


def test_missing_exclude_newer_and_bad_layer(tmp_path: Path) -> None:
    res = run_envkit("lock", "--profile", "cpu", "--layer", "wheels", "--lockfiles", str(tmp_path))
    assert res.code == 2 and "--layer" in res.err
    res = run_envkit("lock", "--profile", "cpu", "--exclude-newer", "yesterday", "--lockfiles", str(tmp_path))
    assert res.code == 2 and "--exclude-newer" in res.err


def _fake_wheel(directory: Path, name: str, version: str, tag: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal but valid wheel (METADATA, WHEEL, RECORD), standing in for a multi-GB torch."""
    import zipfile

    dist = f"{name.replace('-', '_')}-{version}"
    path = directory / f"{dist}-{tag}.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{dist}.dist-info/METADATA", meta)
        zf.writestr(f"{dist}.dist-info/WHEEL", f"Wheel-Version: 1.0\nGenerator: envkit-test\nRoot-Is-Purelib: false\nTag: {tag}\n")
        zf.writestr(f"{dist}.dist-info/RECORD", "")
    return path


@pytest.mark.network
@needs_pypi
def test_wheels_dir_stands_in_for_unreachable_index(tmp_path: Path) -> None:
    import hashlib
    import json

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    tag = "cp310-cp310-manylinux_2_28_x86_64"
    torch = _fake_wheel(wheels, "torch", "2.7.1+cpu", tag)
    _fake_wheel(wheels, "torchvision", "0.22.1+cpu", tag, ("torch==2.7.1",))
    out = tmp_path / "l"
    res = run_envkit("lock", "--profile", "atlas-a2", "--platform", "linux-64", "--layer", "pypi", "--python", "3.10",
                     "--wheels", str(wheels), "--lockfiles", str(out), timeout=180)
    assert res.code == 0, res.err
    sha = hashlib.sha256(torch.read_bytes()).hexdigest()
    manifest = json.loads((out / "atlas-a2" / "manifest.json").read_text())
    assert manifest["layers"]["pypi"]["linux-64"]["inputs"]["wheels"][torch.name] == sha
    assert f"torch==2.7.1+cpu \\\n    --hash=sha256:{sha}" in (out / "atlas-a2" / "pypi-linux-64.txt").read_text()
    lockset = read_lock(out / "atlas-a2")
    assert lockset.find_links["linux-64"] == (str(wheels.resolve()),)
    from urllib.parse import unquote

    url = next(p for p in lockset.pip_packages("linux-64") if p.name == "torch").url
    assert unquote(url) == unquote(torch.resolve().as_uri())


def test_check_names_missing_layers_with_why_and_command() -> None:
    """The committed lockfiles hold no conda layer and no atlas-a2 linux-64 PyPI layer; --check says so."""
    res = run_envkit("lock", "--check", "--profile", "5090", "--lockfiles", str(REPO / "lockfiles"))
    assert res.code == 1, res.err
    assert "missing: conda layer for linux-64 is not locked (" in res.err and "conda-forge" in res.err
    assert "lock it with: envkit lock --profile 5090 --platform linux-64 --layer conda" in res.err
    pypi = run_envkit("lock", "--check", "--layer", "pypi", "--lockfiles", str(REPO / "lockfiles"))
    assert pypi.code == 1 and "conda layer" not in pypi.err
    assert "pypi layer for linux-64 is not locked" in pypi.err and "pytorch-cpu" in pypi.err and "atlas-a2" in pypi.err
    # What CI here checks (make test): every PyPI layer this machine can lock is locked and fresh; the
    # unreachable one is reported with its command, not failed.
    here = run_envkit("lock", "--check", "--layer", "pypi", "--skip-unreachable", "--lockfiles", str(REPO / "lockfiles"))
    assert here.code == 0, here.err
    assert "not locked here" in here.err and "envkit lock --profile atlas-a2 --platform linux-64 --layer pypi" in here.err


def test_manifest_records_each_missing_layer() -> None:
    import json

    for profile, platforms in (("cpu", ("linux-64", "linux-aarch64")), ("5090", ("linux-64",)), ("atlas-a2", ("linux-aarch64", "linux-64"))):
        man = json.loads((REPO / "lockfiles" / profile / "manifest.json").read_text())
        for plat in platforms:
            layers = {lay for lay in ("conda", "pypi") if plat in man["layers"].get(lay, {})}
            gaps = {lay for lay in ("conda", "pypi") if plat in man.get("missing", {}).get(lay, {})}
            assert layers | gaps == {"conda", "pypi"} and not layers & gaps, (profile, plat)
            for lay in gaps:
                entry = man["missing"][lay][plat]
                assert entry["why"] and entry["lock_with"] == f"envkit lock --profile {profile} --platform {plat} --layer {lay}"
    atlas = json.loads((REPO / "lockfiles" / "atlas-a2" / "manifest.json").read_text())
    sdist = atlas["layers"]["pypi"]["linux-aarch64"]["lerobot_sdist"]
    assert sdist["version"] == "0.4.2" and len(sdist["sha256"]) == 64 and sdist["url"].endswith("lerobot-0.4.2.tar.gz")


def test_many_lock_failures_are_one_short_paragraph() -> None:
    from envkit.lock import _failures_paragraph
    from envkit.lock.pypi import Unreachable

    detail = " (error sending request for url (https://conda.example/conda-forge/noarch/repodata_shards.msgpack.zst))"
    failures = [("conda", plat, Unreachable(f"Cannot lock the conda layer of profile '{prof}' for {plat}: channel conda-forge "
                                            f"is unreachable from this machine{detail}")) for prof, plat in
                (("5090", "linux-64"), ("cpu", "linux-64"), ("cpu", "linux-aarch64"))]
    text = _failures_paragraph(failures)
    assert text.count("conda-forge is unreachable") == 1 and "cpu conda linux-aarch64" in text and len(text) < 300
