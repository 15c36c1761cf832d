"""docs/formats.md's module map (its "Layout" block) is checked against the tree.

Every module under src/envkit is named in the map: by its path, by a pattern (`commands/<name>.py`),
by its file name anywhere in the block of its top-level package (`doctor/ ... probe.py`), or, for a
package's `__init__.py`, by the package. And every `.py` the map names exists: a module that moves
or goes cannot leave a stale line behind.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "envkit"
DOC = ROOT / "docs" / "formats.md"
ENTRY = re.compile(r"^  (?P<path>[\w./<>-]+)\s")  # a line that opens an entry: two spaces, then a path
TOKEN = re.compile(r"(?<![\w/.-])[\w<>-]+(?:/[\w<>-]+)*(?:\.py|/)")  # `probe.py`, `steps/<step>.py`, `checks/`


def _block() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index("## Layout"):].split("```", 2)[1].splitlines()


def _sections() -> dict[str, set[str]]:
    """Top-level package (`doctor`, or "" for the top level) -> every token named in its entries."""
    out: dict[str, set[str]] = {"": set()}
    current = ""
    for line in _block():
        m = ENTRY.match(line)
        if m:
            path = m.group("path")
            current = path.split("/")[0] if "/" in path else ""
            out.setdefault(current, set())
        out[current].update(TOKEN.findall(line))
        out[""].update(TOKEN.findall(line))  # a top-level file may be named in another's line
    return out


def _modules() -> list[str]:
    return sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _matches(token: str, rel: str) -> bool:
    pattern = "".join("[^/]+" if part.startswith("<") else re.escape(part) for part in re.split(r"(<[^>]+>)", token))
    return re.fullmatch(pattern, rel) is not None


def covered(rel: str, sections: dict[str, set[str]]) -> bool:
    parts = rel.split("/")
    if len(parts) == 1:
        return rel == "__init__.py" or any(_matches(t, rel) for t in sections[""])
    top = parts[0]
    if top not in sections:
        return False
    tokens = sections[top] | {t for t in sections[""] if t.startswith(top + "/")}
    inner = parts[1:]
    if inner[-1] == "__init__.py":  # a package is on the map when its folder is
        inner = inner[:-1]
        if not inner:
            return True
        folder = "/".join(inner) + "/"
        # the folder itself (`steps/`, `<name>/`), or a path inside it (`steps/<step>.py`)
        return any(_matches(t, folder) or _matches(t.split("/", len(inner))[0] + "/", inner[0] + "/") and "/" in t[:-1]
                   and _matches("/".join(t.split("/")[:len(inner)]) + "/", folder) for t in tokens)
    for t in tokens:
        # the whole path, the path inside the package, a pattern, or the file's own name
        if any(_matches(t, cand) for cand in (rel, "/".join(inner), inner[-1])):
            return True
        # a folder on its path, given with a pattern for its files (`steps/<step>.py`, `<name>/`)
        if "/" in t and _matches(t.rsplit("/", 1)[0] + "/", "/".join(inner[:-1]) + "/") and "<" in t.rsplit("/", 1)[1]:
            return True
    return False


def test_every_module_is_on_the_map() -> None:
    sections = _sections()
    missing = [rel for rel in _modules() if not covered(rel, sections)]
    assert missing == [], f"docs/formats.md's Layout does not name: {missing}"


def test_every_file_the_map_names_exists() -> None:
    modules = _modules()
    names = {Path(rel).name for rel in modules}
    stale = [t for line in _block() for t in TOKEN.findall(line)
             if t.endswith(".py") and "<" not in t and not t.startswith("../")
             and Path(t).name not in names]
    assert stale == [], f"docs/formats.md's Layout names what is not in src/envkit: {stale}"


def test_the_checker_sees_a_missing_module() -> None:
    sections = _sections()
    assert not covered("doctor/not_a_module_of_ours.py", sections)
    assert not covered("not_a_module_of_ours.py", sections)
    assert not covered("nosuchpackage/x.py", sections)
    assert covered("targetenv/probe.py", sections) and covered("doctor/collect.py", sections) and covered("cli.py", sections)
