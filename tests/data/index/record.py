"""Record what `envkit matrix check --deep` reads from an index, for the offline tests.

    .venv/bin/python tests/data/index/record.py [INDEX_URL]   (default: the matrix's PyPI)

Writes, beside this file (see README.md for the trimming rules):
  simple/<project>.json    the PEP 691 page, trimmed
  metadata/<wheel>.METADATA the wheel's METADATA headers (description body dropped)
  filelists/<wheel>.txt     the wheel's file list (zip central directory)
  needed/<wheel>.txt        torchcodec: the FFmpeg library read, then its DT_NEEDED sonames
  recorded.json             index URL, date, and the URL of every recorded page
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from pathlib import Path

from packaging.version import InvalidVersion, Version

from envkit.compat import matrix
from envkit.matrixcheck.check import PACKAGES, PROJECT, known_versions, wanted
from envkit.matrixcheck.facts import parse_wheel
from envkit.pypi_index import IndexClient, parallel
from envkit.matrixcheck.run import _deep_read

HERE = Path(__file__).resolve().parent
# torch_npu lines start at 2.1.0; the other packages at the matrix's oldest row.
FLOOR = {"torch_npu": "2.1.0"}


def _keep(f, floor: Version) -> bool:
    w = parse_wheel(f.filename)
    if w is not None and w.arch is None and not f.filename.endswith("-none-any.whl"):
        return False  # Windows and macOS wheels: the checks read Linux and pure wheels (and sdists)
    try:
        return Version(f.version) >= floor
    except (InvalidVersion, TypeError):
        return False


def main() -> None:
    m = matrix()
    url = sys.argv[1] if len(sys.argv) > 1 else m.index_url("pypi")
    for sub in ("simple", "metadata", "filelists", "needed"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
        (HERE / sub).mkdir()
    pages = {}
    with IndexClient(url) as client:
        files = dict(zip(PACKAGES, parallel(lambda p: client.files(PROJECT.get(p, p)), PACKAGES)))
        for pkg, fs in files.items():
            floor = Version(FLOOR.get(pkg) or min(known_versions(m, pkg), key=Version))
            kept = [f for f in fs if _keep(f, floor)]
            files[pkg] = kept
            project = PROJECT.get(pkg, pkg)
            pages[project] = client._simple.get_project_url(project)
            doc = {
                "meta": {"api-version": "1.1"},
                "name": project,
                "files": [
                    {
                        "filename": f.filename,
                        "url": f"../../files/{f.filename}",
                        "hashes": {},
                        "requires-python": f.requires_python,
                        "size": f.size,
                        "upload-time": f.upload_time,
                        "yanked": f.yanked,
                    }
                    for f in kept
                ],
            }
            text = json.dumps(doc, indent=0, separators=(",", ":"))
            (HERE / "simple" / f"{project}.json").write_text(text + "\n")
        reads = wanted(m, files, PACKAGES, deep=True)
        by_name = {f.filename: f for fs in files.values() for f in fs}
        metas = parallel(lambda n: client.metadata(by_name[n]), sorted(reads.metadata))
        for name, text in zip(sorted(reads.metadata), metas):
            head = text.split("\n\n", 1)[0].rstrip("\n") + "\n"
            (HERE / "metadata" / f"{name}.METADATA").write_text(head)
        lists = parallel(lambda n: _deep_read(client, by_name[n], n in reads.elf), sorted(reads.namelists))
        for name, (names, needed) in zip(sorted(reads.namelists), lists):
            (HERE / "filelists" / f"{name}.txt").write_text("\n".join(names) + "\n")
            if needed is not None:
                member, sonames = needed
                (HERE / "needed" / f"{name}.txt").write_text("\n".join([member, *sonames]) + "\n")
        # lerobot's entry points, for `propose lerobot==X`
        newest = max(files["lerobot"], key=lambda f: Version(f.version))
        eps = client.entry_points(newest)
        (HERE / "metadata" / f"{newest.filename}.entry_points.txt").write_text(eps)
    record = {
        "index": url,
        "recorded": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "pages": pages,
        "metadata_files": len(reads.metadata),
        "file_lists": len(reads.namelists),
    }
    (HERE / "recorded.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
