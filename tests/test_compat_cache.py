"""compat.toml's parsed cache: used when it is ours and intact, ignored (and rebuilt) otherwise."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from envkit import compat
from envkit.resources import package_file


@pytest.fixture
def raw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("ENVKIT_CACHE_DIR", str(tmp_path / "cache"))
    return Path(package_file(compat.DATA_FILE)).read_bytes()


def _kept(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "cache" / "compat").glob("compat-*.json")
    return found


def test_the_cache_holds_exactly_what_toml_parses(raw: bytes, tmp_path: Path) -> None:
    first = compat._parsed(raw)
    assert first == tomllib.loads(raw.decode())
    assert compat._parsed(raw) == first  # from the cache now
    assert compat.Matrix(compat._parsed(raw)).row_digest(("torch", "2.8.0")) == compat.Matrix(first).row_digest(("torch", "2.8.0"))


def test_an_edited_compat_toml_is_never_answered_from_the_old_cache(raw: bytes, tmp_path: Path) -> None:
    compat._parsed(raw)
    edited = raw + b'\n[zz_added]\nnote = "x"\n'
    assert compat._parsed(edited)["zz_added"] == {"note": "x"}
    assert len(list((tmp_path / "cache" / "compat").glob("compat-*.json"))) == 2


@pytest.mark.parametrize("spoil", ["damaged", "planted", "writable by others"])
def test_a_damaged_or_foreign_cache_file_is_ignored(raw: bytes, tmp_path: Path, spoil: str) -> None:
    compat._parsed(raw)
    kept = _kept(tmp_path)
    lie = json.dumps({"torch": {"rows": []}, "_source_size": len(raw)}).encode()
    if spoil == "damaged":
        kept.write_bytes(kept.read_bytes()[:100])
    else:
        kept.write_bytes(lie)
        if spoil == "planted":
            os.chown(kept, 65534, 65534)  # CI runs as root: another user's file, by ownership not by chmod
        else:
            kept.chmod(0o666)
    assert compat._parsed(raw) == tomllib.loads(raw.decode())


def test_an_unwritable_cache_directory_costs_only_the_parse(raw: bytes, tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file where the directory would go")
    assert compat._parsed(raw) == tomllib.loads(raw.decode())
