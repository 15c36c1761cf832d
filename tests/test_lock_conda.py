"""The conda layer against a local channel of real package files (tests/conda_channel.py): offline."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from envkit.errors import EnvkitError
from envkit.lock import check, lock, read_lock
from envkit.lock.conda import solve
from tests.conda_channel import build_local_channel, local_channel  # noqa: F401 - fixture

DATE = "2026-11-01T00:00:00Z"


def _builds(records) -> dict[str, str]:
    return {r.name.normalized: str(r.build) for r in records}


def test_channel_is_reproducible(tmp_path: Path) -> None:
    a = Path(build_local_channel(tmp_path / "a")[len("file://"):])
    b = Path(build_local_channel(tmp_path / "b")[len("file://"):])
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert any(f.name.startswith("ffmpeg-6") for f in files) and (a / "noarch" / "repodata.json").is_file()
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_multi_platform_and_virtual_packages(tmp_path: Path, local_channel: str) -> None:
    reports = lock(["5090", "atlas-a2"], layer="conda", channels=[local_channel], out_dir=tmp_path)
    assert {(r.profile, lay, plat) for r in reports for lay, plat, _, _ in r.locked} == {
        ("5090", "conda", "linux-64"), ("atlas-a2", "conda", "linux-64"), ("atlas-a2", "conda", "linux-aarch64")}
    gpu = read_lock(tmp_path / "5090")
    npu = read_lock(tmp_path / "atlas-a2")
    # The CUDA build needs __cuda >= 12.8: only the 5090 profile declares it.
    assert _builds(gpu.conda_records("linux-64"))["ffmpeg"].startswith("cuda128")
    for plat in ("linux-64", "linux-aarch64"):
        records = npu.conda_records(plat)
        assert _builds(records)["ffmpeg"].startswith("cpu")
        assert {str(r.subdir) for r in records} == {plat, "noarch"}
    assert {str(r.version) for r in npu.conda_records("linux-aarch64") if r.name.normalized == "ffmpeg"} == {"7.0.1"}


def test_unsolvable_request_is_one_paragraph() -> None:
    channel = build_local_channel()
    with pytest.raises(EnvkitError) as info:
        solve("demo", "linux-64", ["python 3.10.*", "ffmpeg 8.*"], [channel], {"__glibc": "2.28"}, DATE)
    text = info.value.paragraph()
    assert "ffmpeg 8.*" in text and "linux-64" in text and "\n" not in text and info.value.exit_code == 2


def test_cuda_build_refused_without_cuda_driver() -> None:
    channel = build_local_channel()
    records = solve("demo", "linux-64", ["ffmpeg 6.* cuda128*"], [channel], {"__cuda": "12.8"}, DATE).records
    assert any(r.build.startswith("cuda128") for r in records)
    with pytest.raises(EnvkitError) as info:
        solve("demo", "linux-64", ["ffmpeg 6.* cuda128*"], [channel], {"__cuda": "12.4"}, DATE)
    assert "__cuda" in info.value.message


def test_lockfile_parses_with_conda_lock_and_installs(tmp_path: Path, local_channel: str) -> None:
    from conda_lock.lockfile import parse_conda_lock_file
    import rattler

    lock(["5090"], layer="conda", channels=[local_channel], out_dir=tmp_path)
    parsed = parse_conda_lock_file(tmp_path / "5090" / "conda-lock.yml")
    assert parsed.metadata.platforms == ["linux-64"]
    assert {p.name for p in parsed.package if p.manager == "conda"} == {"python", "python_abi", "ffmpeg", "tzdata"}
    prefix = tmp_path / "prefix"
    records = read_lock(tmp_path / "5090").conda_records("linux-64")
    asyncio.run(rattler.install(records, target_prefix=prefix, cache_dir=tmp_path / "pkgs", show_progress=False))
    out = subprocess.run([str(prefix / "bin" / "ffmpeg")], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ffmpeg version 6.1.2 (cuda128)")


def test_relock_is_byte_identical_and_check_names_channel(tmp_path: Path, local_channel: str) -> None:
    lock(["cpu"], layer="conda", channels=[local_channel], out_dir=tmp_path)
    first = {p.name: p.read_bytes() for p in (tmp_path / "cpu").iterdir()}
    lock(["cpu"], layer="conda", channels=[local_channel], out_dir=tmp_path)
    assert first == {p.name: p.read_bytes() for p in (tmp_path / "cpu").iterdir()}
    assert all(r.ok for r in check(["cpu"], layer="conda", channels=[local_channel], out_dir=tmp_path))
    unlocked = check(["cpu"], channels=[local_channel], out_dir=tmp_path)[0].stale  # the PyPI layer was never locked
    assert unlocked and all("pypi layer for" in s and "is not locked" in s and "--layer pypi" in s for s in unlocked)
    stale = check(["cpu"], layer="conda", out_dir=tmp_path)[0].stale  # the profile's own channel differs
    assert stale and all("conda channels changed" in s for s in stale)
