"""Make a copy of a lerobot tree importable by Python 3.11 to record its capability probe here.

Used only to DERIVE tests/data/lerobot-caps/main-7427f31.json (README there): lerobot main needs
Python >= 3.12 and this machine has 3.11. The copy rewrites the PEP 695 forms 3.11 cannot parse,
keeping their runtime meaning: `type X = Y` -> `X = Y`; `class C[T, U](B):` -> `class C(B, Generic[T, U]):`;
`def f[T: B](...)` -> `def f(...)`; the TypeVars declared before the module's first definition. Nothing else is changed; the
probe then imports the tree's real config classes. Usage: py311_downgrade.py SRC_DIR DEST_DIR
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

TYPE_ALIAS = re.compile(r"^(\s*)type ([A-Za-z_]\w*) = ", re.M)
GENERIC = re.compile(r"^(class|def) ([A-Za-z_]\w*)\[([^\]]+)\](\(([^)]*)\))?", re.M)
FIRST_DEF = re.compile(r"^(@|class |def )", re.M)


def downgrade(text: str) -> str:
    text = TYPE_ALIAS.sub(r"\1\2 = ", text)
    names: list[str] = []

    def plain(m: re.Match) -> str:
        params = [p.split(":")[0].strip() for p in m.group(3).split(",") if p.strip()]
        names.extend(n for n in params if n not in names)
        if m.group(1) == "def":
            return f"def {m.group(2)}" + (m.group(4) or "")
        bases = [b for b in [(m.group(5) or "").strip()] if b]
        bases.append("__import__('typing').Generic[" + ", ".join(params) + "]")  # C[X, Y] stays subscriptable
        return f"class {m.group(2)}(" + ", ".join(bases) + ")"

    text = GENERIC.sub(plain, text)
    if names:  # the TypeVars PEP 695 declared implicitly, before the module's first definition
        first = FIRST_DEF.search(text)
        decl = "".join(f'{n} = __import__("typing").TypeVar("{n}")\n' for n in names)
        text = text[:first.start()] + decl + text[first.start():]
    return text


def main(src: Path, dest: Path) -> int:
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)  # the snapshot has dangling doc links
    changed = 0
    for path in dest.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        new = downgrade(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed += 1
            print(f"rewrote {path.relative_to(dest)}")
    print(f"{changed} files rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
