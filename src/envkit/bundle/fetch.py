"""The network edge: the bytes of a wanted member, checked against its hash.

Order: envkit's own download cache (content-addressed by sha256), then the local package sources
pip is configured with (find-links directories and file:// indexes: a mirror on disk serves the same
files the lock names), then the lock's URL itself. A file whose hash differs is never used; a URL
that serves other bytes than the lock says is an error naming the package and the URL.
"""

from __future__ import annotations

import hashlib
import html.parser
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from envkit import cachedir
from envkit.bundle.contents import Want
from envkit.errors import EnvkitError, StepFailed
from envkit.fsutil import file_digest, hashed_blocks
from envkit.secrets import http_request, redact

TIMEOUT_S = 60


def cache_root() -> Path:
    own = os.environ.get("ENVKIT_BUNDLE_CACHE")
    return Path(own) if own else cachedir.cache_root() / "bundle"


def _matches(path: Path, want: Want) -> bool:
    if want.sha256:
        return file_digest(path) == want.sha256
    return bool(want.md5) and file_digest(path, "md5") == want.md5


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def _file_path(url: str) -> Path | None:
    return Path(unquote(urlparse(url).path)) if url.startswith("file://") else (Path(url) if "://" not in url else None)


def local_candidates(file_name: str, project: str, find_links: tuple[str, ...], indexes: tuple[str, ...]) -> list[Path]:
    """Files named `file_name` in the local sources (directories, file:// PEP 503 indexes)."""
    out: list[Path] = []
    for link in find_links:
        folder = _file_path(link)
        if folder is not None and (folder / file_name).is_file():
            out.append(folder / file_name)
    normalized = re.sub(r"[-_.]+", "-", project).lower()
    for index in indexes:
        root = _file_path(index)
        if root is None:
            continue
        page = root / normalized / "index.html"
        if not page.is_file():
            continue
        parser = _Links()
        parser.feed(page.read_text(errors="replace"))
        for href in parser.hrefs:
            target = urljoin(page.as_uri(), href.split("#", 1)[0])
            if file_name == unquote(target.rsplit("/", 1)[-1]) and (_file_path(target) or Path("/nonexistent")).is_file():
                out.append(_file_path(target))  # type: ignore[arg-type]
    return out


def _cached(want: Want) -> Path:
    key = want.sha256 or f"md5-{want.md5}"
    return cache_root() / key[:2] / key / want.path.rsplit("/", 1)[-1]


def fetch(want: Want, find_links: tuple[str, ...] = (), indexes: tuple[str, ...] = ()) -> Path:
    """A local path holding the member's bytes (hash-checked); downloads into the cache only when needed."""
    if not want.is_url:
        path = Path(want.source)
        if not path.is_file():
            raise EnvkitError(f"{want.kind} {want.name}: {path} does not exist", fix="pass an existing file")
        if (want.sha256 or want.md5) and not _matches(path, want):
            raise EnvkitError(f"{want.kind} {want.name}: {path} does not have the expected hash {want.sha256 or want.md5}",
                              fix="replace it with the file the lock or profile names")
        return path
    if not (want.sha256 or want.md5):
        raise EnvkitError(f"{want.kind} {want.name} {want.version} ({redact(want.source)}) has no hash to check it against",
                          fix="re-lock with `envkit lock` so every package carries its sha256")
    cached = _cached(want)
    if cached.is_file() and _matches(cached, want):
        return cached
    name = want.path.rsplit("/", 1)[-1]
    for path in local_candidates(name, want.name, find_links, indexes):
        if _matches(path, want):
            return path
    local = _file_path(want.source)
    if local is not None:
        if local.is_file() and _matches(local, want):
            return local
        raise StepFailed(f"{want.kind} {want.name} {want.version}: {local} is missing or does not have the lock's hash "
                         f"{want.sha256 or want.md5}", fix="restore the file, or re-lock with `envkit lock`")
    return _download(want, cached)


def _download(want: Want, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    digest = hashlib.new("sha256" if want.sha256 else "md5")
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(http_request(want.source), timeout=TIMEOUT_S) as resp:  # noqa: S310 - the lock's https/http URL
                for block in hashed_blocks(resp, digest):
                    out.write(block)
        expected = want.sha256 or want.md5
        if digest.hexdigest() != expected:
            raise StepFailed(f"{want.kind} {want.name} {want.version}: {redact(want.source)} served a file with "
                             f"{'sha256' if want.sha256 else 'md5'} {digest.hexdigest()}, not the lock's {expected}",
                             fix="the index changed the file or a proxy altered it: re-lock with `envkit lock`, or fetch from a trusted mirror")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise StepFailed(f"cannot download {want.kind} {want.name} {want.version} from {redact(want.source)}: {exc}",
                         fix="build the bundle on a machine that reaches that index (or put the file in a --find-links "
                             "directory of your pip configuration)") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def copy_tree_files(root: Path) -> list[Path]:
    """Regular files under a dataset directory (symbolic links are refused: a bundle holds bytes)."""
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            raise EnvkitError(f"--dataset {root}: {path} is a symbolic link", fix="copy the dataset without links and pass that copy")
        if path.is_file():
            files.append(path)
    return files

