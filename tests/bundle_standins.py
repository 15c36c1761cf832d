"""Small stand-in wheels on a local PEP 691 index (127.0.0.1),, and a lock of the cpu profile over them.

The wheels carry real metadata (name, version, Requires-Dist, tags) and a few bytes of payload, so
uv resolves them for real (per target platform) and the lock records their real sha256s and
127.0.0.1 URLs; `envkit bundle` then fetches them by those URLs over HTTP. No multi-GB download.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# (name, version, tag, requires): the cpu profile's tuple and lerobot, for both target platforms.
STANDINS = [
    ("torch", "2.14.1", "cp311-cp311-manylinux_2_28_{arch}", []),
    ("torchvision", "0.29.1", "cp311-cp311-manylinux_2_28_{arch}", ["torch==2.14.1"]),
    ("torchcodec", "0.17.0", "cp311-cp311-manylinux_2_28_{arch}", []),
    ("lerobot", "0.4.4", "py3-none-any", ["torch>=2.2.1", "torchvision>=0.21.0", "torchcodec>=0.2.1"]),
]
ARCHES = ("x86_64", "aarch64")
UPLOADED = "2026-10-01T00:00:00Z"  # before the cpu profile's exclude_newer


def wheel(name: str, version: str, tag: str, requires: list[str]) -> tuple[str, bytes]:
    filename = f"{name}-{version}-{tag}.whl"
    dist = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {f"{name}/__init__.py": f"# stand-in for {filename}\n", f"{dist}/METADATA": meta,
             f"{dist}/WHEEL": f"Wheel-Version: 1.0\nGenerator: envkit-tests\nRoot-Is-Purelib: false\nTag: {tag}\n"}
    files[f"{dist}/RECORD"] = "".join(f"{k},,\n" for k in files) + f"{dist}/RECORD,,\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, text in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return filename, buf.getvalue()


def all_wheels() -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    for name, version, tag, requires in STANDINS:
        for arch in ARCHES if "{arch}" in tag else ("any",):
            filename, data = wheel(name, version, tag.format(arch=arch), requires)
            out.setdefault(name, {})[filename] = data
    return out


class StandinIndex:
    def __init__(self) -> None:
        self.wheels = all_wheels()
        self.requests: list[str] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                index.serve(self, head=True)

            def do_GET(self) -> None:
                index.serve(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/simple"
        self.find_links = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        path = handler.path.split("?", 1)[0]
        self.requests.append(path)
        body, kind = b"", "application/vnd.pypi.simple.v1+json"
        parts = [p for p in path.split("/") if p]
        if parts == ["files"]:  # a find-links page: every file, as HTML anchors
            links = "".join(f'<a href="/files/{f}#sha256={hashlib.sha256(d).hexdigest()}">{f}</a>\n'
                            for w in self.wheels.values() for f, d in sorted(w.items()))
            body, kind = f"<html><body>{links}</body></html>".encode(), "text/html"
        elif len(parts) == 2 and parts[0] == "simple" and parts[1] in self.wheels:
            files = [{"filename": f, "url": f"/files/{f}", "hashes": {"sha256": hashlib.sha256(d).hexdigest()},
                      "upload-time": UPLOADED, "size": len(d)} for f, d in sorted(self.wheels[parts[1]].items())]
            body = json.dumps({"meta": {"api-version": "1.1"}, "name": parts[1], "files": files, "versions": []}).encode()
        elif len(parts) == 2 and parts[0] == "files":
            found = [d for w in self.wheels.values() for f, d in w.items() if f == parts[1]]
            if found:
                body, kind = found[0], "application/octet-stream"
        if not body:
            handler.send_response(404)
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def close(self) -> None:
        self.httpd.shutdown()


def write_lock(root: Path, find_links: str, platforms: tuple[str, ...] = ("linux-aarch64", "linux-64"), profile: str = "cpu") -> Path:
    """lockfiles/<profile>/ in envkit's format, locked by uv over the stand-in wheels only (no other index).

    uv compiles the cpu profile's requirements for each target platform (--python-platform), with
    hashes; envkit's own lock writers turn the result into conda-lock.yml and manifest.json.
    """
    import subprocess
    import sys
    import tempfile

    from envkit.lock import lockfile, manifest, pypi
    from envkit.uvbin import find_uv

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    out = root / profile
    out.mkdir(parents=True, exist_ok=True)
    man = manifest.empty(profile)
    entries = []
    for platform in platforms:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "requirements.in").write_text("torch==2.14.1\ntorchvision==0.29.1\ntorchcodec==0.17.0\nlerobot==0.4.4\n")
            base = [find_uv(), "pip", "compile", "requirements.in", "--no-config", "--no-index", "--find-links", find_links,
                    "--python-version", "3.11", "--python-platform", pypi.PYTHON_PLATFORM[platform], "--generate-hashes",
                    "--no-header", "--quiet"]
            subprocess.run(base + ["-o", "requirements.txt"], cwd=work, check=True, capture_output=True, text=True)
            subprocess.run(base + ["--format", "pylock.toml", "-o", "pylock.toml"], cwd=work, check=True, capture_output=True, text=True)
            text = (work / "requirements.txt").read_text()
            packages = pypi._packages(tomllib.loads((work / "pylock.toml").read_text()), text, platform, "3.11")
        name = f"pypi-{platform}.txt"
        (out / name).write_text(text)
        man["layers"].setdefault("pypi", {})[platform] = {"file": name, "find_links": [], "inputs": {}, "packages": len(packages),
                                                          "sha256": manifest.file_sha256(out / name)}
        entries += [lockfile.pip_entry(p, platform) for p in packages]
    lockfile.write(out / lockfile.LOCKFILE, profile, entries, ["conda-forge"], list(platforms), {p: "stand-in" for p in platforms},
                   f"{profile}.toml", {"envkit_profile": profile, "envkit_manifest": manifest.MANIFEST})
    man["outputs"] = {lockfile.LOCKFILE: manifest.file_sha256(out / lockfile.LOCKFILE)}
    manifest.write(out, man)
    return out
