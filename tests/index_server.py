"""A local simple-API index on 127.0.0.1 that replays tests/data/index (recorded from PyPI).

Pages are served as PEP 691 JSON. A wheel URL serves a small zip built from the recording:
its recorded METADATA (and, where recorded, its file list as empty members, and torchcodec's
FFmpeg library as a stub ELF with the recorded DT_NEEDED entries), so remotezip's
HTTP range requests run for real against a real zip central directory. Range requests
(`bytes=a-b`, `bytes=a-`, `bytes=-n`) get 206 answers; every request is logged for asserts.
With `pep658=True` pages advertise `core-metadata` and `<wheel>.metadata` is served too; with
`html=True` pages are PEP 503 HTML (anchors with data-requires-python, no upload times).
With `auth=(user, password)` every request needs HTTP Basic credentials: 401 without them (or with
wrong ones), served or 404 with them; `authorized` logs the requests that carried the right ones.
"""

from __future__ import annotations

import base64
import html as htmllib
import io
import json
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.elf_stub import elf_with_needed

DATA = Path(__file__).resolve().parent / "data" / "index"


def wheel_bytes(filename: str, data: Path = DATA) -> bytes | None:
    """The stand-in wheel for `filename`: recorded METADATA + recorded file list; None if unrecorded."""
    meta = data / "metadata" / f"{filename}.METADATA"
    names = data / "filelists" / f"{filename}.txt"
    if not meta.is_file() and not names.is_file():
        return None
    name, version = filename.split("-")[:2]
    dist_info = f"{name}-{version}.dist-info"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if names.is_file():
            skip = set()
            needed_file = data / "needed" / f"{filename}.txt"
            if needed_file.is_file():
                skip.add(needed_file.read_text().split()[0])
            for n in names.read_text().split():
                if n not in skip and not n.endswith("/METADATA") and not n.endswith("/entry_points.txt"):
                    zf.writestr(n, b"")
        needed = data / "needed" / f"{filename}.txt"
        if needed.is_file():
            member, *sonames = needed.read_text().split()
            zf.writestr(member, elf_with_needed(sonames))  # replaces the empty entry of that name
        if meta.is_file():
            zf.writestr(f"{dist_info}/METADATA", meta.read_text())
        eps = data / "metadata" / f"{filename}.entry_points.txt"
        if eps.is_file():
            zf.writestr(f"{dist_info}/entry_points.txt", eps.read_text())
    return buf.getvalue()


class RecordedIndex:
    def __init__(self, data: Path = DATA, pep658: bool = False, html: bool = False, ranges: bool = True,
                 auth: tuple[str, str] | None = None) -> None:
        self.data = data
        self.auth = auth
        self.authorized: list[tuple[str, str]] = []  # (method, path) of requests with the right credentials
        self.refused: list[tuple[str, str]] = []  # (method, path) answered 401
        self.ranges = ranges  # False: answer Range requests with the whole file (200), as some proxies do
        self.pep658 = pep658
        self.html = html
        self.log: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self._wheels: dict[str, bytes | None] = {}
        self._lock = threading.Lock()
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_HEAD(self) -> None:
                index._serve(self, head=True)

            def do_GET(self) -> None:
                index._serve(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/simple"

    def __enter__(self) -> RecordedIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _wheel(self, filename: str) -> bytes | None:
        with self._lock:
            if filename not in self._wheels:
                self._wheels[filename] = wheel_bytes(filename, self.data)
            return self._wheels[filename]

    def _serve(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        rng = h.headers.get("Range")
        self.log.append((h.command, h.path, rng))
        if self.auth is not None:
            expected = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            if h.headers.get("Authorization") != expected:
                self.refused.append((h.command, h.path))
                return self._send(h, 401, b"unauthorized", "text/plain", head, {"WWW-Authenticate": 'Basic realm="envkit-test"'})
            self.authorized.append((h.command, h.path))
        m = re.fullmatch(r"/simple/([^/]+)/", h.path)
        if m:
            page = self.data / "simple" / f"{m[1]}.json"
            if not page.is_file():
                return self._send(h, 404, b"not found", "text/plain", head)
            doc = json.loads(page.read_text())
            if self.pep658:
                for f in doc["files"]:
                    f["core-metadata"] = f["filename"].endswith(".whl")
            if self.html:
                return self._send(h, 200, _pep503(doc).encode(), "text/html", head)
            return self._send(h, 200, json.dumps(doc).encode(), "application/vnd.pypi.simple.v1+json", head)
        m = re.fullmatch(r"/files/([^/]+?)(\.metadata)?", h.path)
        if m and m[2]:
            meta = self.data / "metadata" / f"{m[1]}.METADATA"
            if not self.pep658 or not meta.is_file():
                return self._send(h, 404, b"not found", "text/plain", head)
            return self._send(h, 200, meta.read_bytes(), "text/plain", head)
        body = self._wheel(m[1]) if m else None
        if body is None:
            return self._send(h, 404, b"not found", "text/plain", head)
        if rng is None or not self.ranges:
            return self._send(h, 200, body, "application/octet-stream", head)
        r = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
        size = len(body)
        if not r or (not r[1] and not r[2]):
            return self._send(h, 416, b"", "text/plain", head)
        if r[1]:
            start, end = int(r[1]), min(int(r[2]) if r[2] else size - 1, size - 1)
        else:
            start, end = max(0, size - int(r[2])), size - 1
        if start >= size:
            return self._send(h, 416, b"", "text/plain", head, {"Content-Range": f"bytes */{size}"})
        return self._send(h, 206, body[start:end + 1], "application/octet-stream", head,
                          {"Content-Range": f"bytes {start}-{end}/{size}", "Accept-Ranges": "bytes"})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str, head: bool,
              extra: dict[str, str] | None = None) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if not head:
            h.wfile.write(body)


def _pep503(doc: dict[str, Any]) -> str:
    """The same page as PEP 503 HTML: one anchor per file (PEP 700 fields have no HTML form)."""
    links = []
    for f in doc["files"]:
        attrs = ""
        if f.get("requires-python"):
            attrs += f' data-requires-python="{htmllib.escape(f["requires-python"])}"'
        if f.get("core-metadata"):
            attrs += ' data-core-metadata="true"'
        links.append(f'<a href="{htmllib.escape(f["url"])}"{attrs}>{htmllib.escape(f["filename"])}</a><br/>')
    body = "\n".join(links)
    return f"<!DOCTYPE html><html><head><title>Links for {doc['name']}</title></head><body>\n{body}\n</body></html>\n"
