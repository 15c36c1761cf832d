"""The cpu tuple installs on this machine without downloading torch: a dry resolve against the local index."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from envkit.uvbin import find_uv
from envkit.host import detect
from envkit.pipconfig import read_pip_config
from envkit.profiles import load_profile
from envkit.resolve import resolve

BIG = ("torch", "torchvision", "triton")


def _origins(compiled: str) -> dict[str, str]:
    """package -> the index uv took it from (uv's --emit-index-annotation lines)."""
    origins: dict[str, str] = {}
    current = None
    for line in compiled.splitlines():
        if line and not line.startswith(" ") and "==" in line:
            current = line.split("==", 1)[0].strip()
        elif current and line.strip().startswith("# from "):
            origins[current] = line.strip()[len("# from "):]
    return origins


@pytest.mark.network
def test_cpu_tuple_takes_torch_from_local_disk(tmp_path: Path) -> None:
    sources = read_pip_config()
    if not any(url.startswith("file://") for url in sources.extra_index_urls):
        pytest.skip("this machine's pip config names no local file:// index")
    # cpu-dev: the cpu profile with this machine's limits, which exist for exactly this (its local torch wheels)
    r = resolve(load_profile(str(Path(__file__).parent / "data" / "profiles" / "cpu-dev.toml")), detect())
    req = tmp_path / "requirements.in"
    req.write_text("\n".join(line for line in r.requirements if not line.startswith("lerobot")) + "\n")
    argv = [find_uv(), "pip", "compile", str(req), "--python-version", r.python, "--python-platform", "x86_64-manylinux_2_28",
            "--no-header", "--emit-index-annotation", "--quiet", *sources.uv_args()]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**os.environ, **sources.uv_env()})
    if proc.returncode != 0 and "Failed to fetch" in proc.stderr:
        pytest.skip(f"PyPI unreachable: {proc.stderr[:200]}")
    assert proc.returncode == 0, proc.stderr
    origins = _origins(proc.stdout)
    # The multi-GB wheels; small CUDA runtime pieces may come from PyPI when it has a newer patch release.
    heavy = [name for name in origins if name in BIG]
    assert "torch" in heavy and "torchvision" in heavy
    remote = {name: origins[name] for name in heavy if not origins[name].startswith("file://")}
    assert remote == {}, f"would download from the network: {remote}"
