"""Record the capability probe's raw output for a canary tree (tests/data/lerobot-caps/README.md).

Run BY the interpreter of an environment holding the tree:
    ENV/bin/python tests/tools/record_caps.py OUT.json
    ENV/bin/python tests/tools/record_caps.py OUT.json --pyproject TREE/pyproject.toml --derived "how"
The second form is for a tree that is on PYTHONPATH but not installed (lerobot main needs Python
>= 3.12): its distribution facts (version, console scripts, extras) are read from its pyproject.toml
instead of installed metadata, and the document is marked "derived" with the note given.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src" / "envkit" / "doctor"))
import caps_probe  # noqa: E402  (the probe file itself, as the doctor copies it)


def _entry(text: str) -> dict:
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", text)
    entry = {"requirement": text.split(";")[0].strip(), "name": name.group(1) if name else text}
    try:
        entry["installed"] = importlib.metadata.version(entry["name"])
    except importlib.metadata.PackageNotFoundError:
        entry["installed"] = None
    return entry


def dist_from_pyproject(path: Path) -> dict:
    project = tomllib.loads(path.read_text())["project"]
    return {"version": project["version"], "requires": [_entry(r) for r in project.get("dependencies", [])],
            "extras": {k: [_entry(r) for r in v] for k, v in project.get("optional-dependencies", {}).items()},
            "console_scripts": dict(project.get("scripts", {}))}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--pyproject", type=Path)
    parser.add_argument("--derived")
    args = parser.parse_args()
    if args.pyproject:
        caps_probe._dist = lambda: dist_from_pyproject(args.pyproject)
    doc = caps_probe.collect()
    if args.derived:
        doc["derived"] = args.derived
    args.out.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
    print(f"{args.out}: package {doc.get('package')}, errors {sorted(doc.get('errors') or {})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
