"""The backend registry: built-ins by table, plug-ins by the 'envkit.backends' entry point, clear errors."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from envkit import accel
from envkit.accel import registry as backends
from envkit.errors import EnvkitError


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A site directory on sys.path whose distributions `add` declares; the registry's cache is reset."""
    monkeypatch.syspath_prepend(str(tmp_path))
    accel.entry_points.cache_clear()
    backends._load.cache_clear()

    def add(dist: str, entry: str, module: str = "", body: str = "") -> None:
        info = tmp_path / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[envkit.backends]\n{entry}\n")
        if module:
            (tmp_path / f"{module}.py").write_text(body)

    yield add
    for name in [m for m in sys.modules if m.startswith("regtest_")]:
        del sys.modules[name]
    accel.entry_points.cache_clear()
    backends._load.cache_clear()


def _folders() -> set[str]:
    """The accelerator folders in the source tree, read as files (not through the scan under test)."""
    root = Path(accel.__file__).parent
    return {d.name for d in root.iterdir() if (d / "__init__.py").is_file()
            and re.search(r"^BACKEND\s*=", (d / "__init__.py").read_text(encoding="utf-8"), re.M)}


def test_builtins_are_looked_up_once() -> None:
    assert backends.get_backend("cuda") is backends.get_backend("cuda")
    assert {"cuda", "ascend", "cpu"} <= _folders()
    assert set(accel.builtins()) == _folders()


def test_a_folder_under_accel_is_a_builtin_checked_like_a_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A subpackage of envkit.accel declaring BACKEND is found by the scan (no table to edit), ordered by
    ORDER, and goes through the entry points' loader: name and Protocol checked."""
    import envkit.accel as package

    for name, order, body in (("regtestok", 15, "class Ok(CpuBackend):\n    name = 'regtestok'\n"),
                              ("regtestbad", 95, "class Ok(CpuBackend):\n    name = 'other'\n")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text(f"BACKEND = 'envkit.accel.{name}.backend:Ok'\nORDER = {order}\n")
        (folder / "backend.py").write_text("from envkit.accel.cpu.backend import CpuBackend\n\n" + body)
    (tmp_path / "notabackend").mkdir()
    (tmp_path / "notabackend" / "__init__.py").write_text("")  # a helper package: no BACKEND, not a backend
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    accel._declarations.cache_clear()
    backends._load.cache_clear()
    try:
        names = list(accel.builtins())
        assert set(names) == _folders() | {"regtestok", "regtestbad"}
        # ORDER 15 sits between cuda (10) and ascend (20); 95 comes after every built-in (cpu is 90)
        assert names.index("cuda") < names.index("regtestok") < names.index("ascend") and names[-1] == "regtestbad"
        assert backends.get_backend("regtestok").name == "regtestok"
        with pytest.raises(EnvkitError, match="calls itself 'other'"):
            backends.get_backend("regtestbad")
    finally:
        monkeypatch.undo()
        accel._declarations.cache_clear()
        accel.facts_layout.cache_clear()
        backends._load.cache_clear()
        for mod in [m for m in sys.modules if m.startswith(("envkit.accel.regtest", "envkit.accel.notabackend"))]:
            del sys.modules[mod]
    assert set(accel.builtins()) == _folders()


def test_unknown_accelerator_is_one_paragraph_listing_the_installed(site) -> None:  # type: ignore[no-untyped-def]
    site("regtest-ok", "okaccel = regtest_ok:Ok", "regtest_ok",
         "from envkit.accel.cpu.backend import CpuBackend\n\nclass Ok(CpuBackend):\n    name = 'okaccel'\n")
    with pytest.raises(EnvkitError) as info:
        backends.get_backend("tpu", "profile x.toml")
    text = info.value.paragraph()
    assert "profile x.toml" in text and "'tpu'" in text and "okaccel" in text and "cuda" in text and "envkit.backends" in text
    assert "\n" not in text
    assert backends.get_backend("okaccel").name == "okaccel"


def test_a_plugin_cannot_replace_a_builtin(site) -> None:  # type: ignore[no-untyped-def]
    site("regtest-evil", "cuda = regtest_evil:Evil", "regtest_evil", "class Evil:\n    name = 'cuda'\n")
    assert type(backends.get_backend("cuda")).__module__ == "envkit.accel.cuda.backend"


@pytest.mark.parametrize("body, said", [
    ("raise ImportError('no libfoo.so')\n", "does not import: ImportError: no libfoo.so"),
    ("class B:\n    name = 'other'\n", "calls itself 'other'"),
    # a backend written for an older envkit: named at load with what it lacks, not an AttributeError later
    ("class B:\n    name = 'broken'\n    device = 'cpu'\n", "lacks .*launch_env.* of envkit's Backend protocol"),
])
def test_broken_plugins_are_clear_errors(site, body: str, said: str) -> None:  # type: ignore[no-untyped-def]
    site("regtest-broken", "broken = regtest_broken:B", "regtest_broken", body)
    with pytest.raises(EnvkitError, match=said):
        backends.get_backend("broken")
