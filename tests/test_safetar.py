"""One rule for a tar member envkit unpacks: the bundle reader and the lerobot sdist unpacker both ask
envkit.safetar.safe_member, so a name that climbs out, an absolute one or a link never lands."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from envkit.safetar import safe_member
from envkit.setup.steps.lerobot_source import _unpack_below_top


def _member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_the_rule() -> None:
    assert safe_member(_member("lerobot-1.0/src/lerobot/__init__.py"))
    assert not safe_member(_member("lerobot-1.0/../../evil.py"))
    assert not safe_member(_member("/etc/cron.d/evil"))
    assert not safe_member(_member(""))
    assert not safe_member(_member("lerobot-1.0/link", tarfile.SYMTYPE, "/etc/passwd"))
    assert not safe_member(_member("lerobot-1.0/hard", tarfile.LNKTYPE, "lerobot-1.0/ok.py"))


def test_sdist_unpack_keeps_only_safe_members(tmp_path: Path) -> None:
    archive = tmp_path / "lerobot-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, kind, target in [("lerobot-1.0/ok.py", tarfile.REGTYPE, ""), ("lerobot-1.0/../evil.py", tarfile.REGTYPE, ""),
                                   ("/abs/evil.py", tarfile.REGTYPE, ""), ("lerobot-1.0/link", tarfile.SYMTYPE, "/etc/passwd")]:
            info = _member(name, kind, target)
            data = b"x = 1\n" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "out" / "tree"
    _unpack_below_top(archive, dest)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file() or p.is_symlink()) == [
        "lerobot-1.0.tar.gz", "out/tree/ok.py"]
