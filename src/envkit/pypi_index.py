"""The HTTP edge: a project's files from a simple API index and what lies inside its wheels.

Pages come through pypi-simple (PEP 503 HTML and PEP 691 JSON, PEP 658/714 metadata flags).
A wheel's METADATA comes from the index's metadata file where the page advertises one, else
from remotezip: HTTP range requests read the zip's central directory and the one member, so
a 500 MB torch wheel costs a few hundred kB, never a download.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from envkit.secrets import redact
from envkit.errors import EnvkitError

if TYPE_CHECKING:
    import requests

T = TypeVar("T")
R = TypeVar("R")

TIMEOUT_S = 20.0
WORKERS = 16


class IndexUnreachable(EnvkitError):
    """The index did not answer (DNS, refused, timeout, 5xx): `matrix check` exits 2."""
    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message, fix, exit_code=2)


def redact_url(url: str) -> str:
    """The index URL as it may be shown: envkit's one redaction (user:***@host)."""
    return redact(url)


def redact_text(text: str) -> str:
    """An error may quote a URL we did not build: the same redaction over the whole message."""
    return redact(text)


@dataclass(frozen=True)
class IndexFile:
    """One file of a project as the index lists it."""
    filename: str
    url: str
    version: str | None
    upload_time: str | None  # ISO 8601 when the index serves PEP 700 data
    requires_python: str | None
    yanked: bool
    has_metadata: bool  # PEP 658/714: the index serves <url>.metadata
    size: int | None = None  # bytes (PEP 700), what a download would cost
    package: Any = field(default=None, compare=False, repr=False)  # pypi-simple's object

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


class IndexClient:
    """One index, one requests session shared by page fetches and range reads."""
    def __init__(self, index_url: str, *, timeout: float = TIMEOUT_S, cert: str | None = None) -> None:
        import requests
        from pypi_simple import ACCEPT_JSON_PREFERRED, PyPISimple

        self.url = index_url
        self.name = redact_url(index_url)
        self.timeout = timeout
        self.session: requests.Session = requests.Session()
        if cert:
            self.session.verify = cert  # pip's `cert` (a private CA for a mirror)
        # Pool size follows the worker count, or urllib3 drops and reopens connections.
        adapter = requests.adapters.HTTPAdapter(pool_connections=WORKERS, pool_maxsize=WORKERS)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.bytes_read = 0  # body bytes the index sent (Content-Length), for the benchmark
        self.session.hooks["response"].append(self._count)
        self._simple = PyPISimple(index_url, session=self.session, accept=ACCEPT_JSON_PREFERRED)

    def _count(self, response: Any, *args: Any, **kwargs: Any) -> None:
        # The header, not .content: remotezip streams, and reading the body here would eat it.
        self.bytes_read += int(response.headers.get("Content-Length") or 0)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> IndexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pages -------------------------------------------------------------------------

    def files(self, project: str) -> list[IndexFile]:
        """Every file of `project`; [] when the index does not have it."""
        from pypi_simple import NoSuchProjectError

        try:
            page = self._simple.get_project_page(project, timeout=self.timeout)
        except NoSuchProjectError:
            return []
        except Exception as exc:  # requests' connection errors, HTTP errors, bad content types
            raise self._unreachable(f"its page for {project}", exc) from None
        out = []
        for p in page.packages:
            out.append(
                IndexFile(
                    filename=p.filename,
                    url=p.url,
                    version=p.version,
                    upload_time=p.upload_time.isoformat() if p.upload_time else None,
                    requires_python=p.requires_python,
                    yanked=p.is_yanked,
                    has_metadata=bool(p.has_metadata),
                    size=p.size,
                    package=p,
                )
            )
        return out

    # -- inside wheels -----------------------------------------------------------------

    def metadata(self, f: IndexFile) -> str:
        """The wheel's METADATA text: PEP 658 file where served, else a range read."""
        if f.has_metadata and f.package is not None:
            from pypi_simple import NoMetadataError

            try:
                verify = bool(f.package.metadata_digests)  # PEP 714 allows `true` without a digest
                data = self._simple.get_package_metadata_bytes(f.package, verify=verify, timeout=self.timeout)
                return data.decode("utf-8", "replace")
            except NoMetadataError:
                pass  # listed but 404 (an index that lies about PEP 658): read the wheel itself
            except Exception as exc:
                raise self._unreachable(f"the metadata file of {f.filename}", exc) from None
        return self._read_member(f, lambda n: n.endswith(".dist-info/METADATA") and n.count("/") == 1)

    def entry_points(self, f: IndexFile) -> str:
        return self._read_member(
            f, lambda n: n.endswith(".dist-info/entry_points.txt") and n.count("/") == 1, missing_ok=True
        )

    def namelist(self, f: IndexFile) -> list[str]:
        """The wheel's file list, from its zip central directory only."""
        with self._zip(f) as zf:
            return zf.namelist()

    def namelist_and_member(self, f: IndexFile, choose: Callable[[list[str]], str | None]) -> tuple[list[str], str | None, bytes]:
        """The file list and the one member `choose` names from it, in one central-directory read."""
        with self._zip(f) as zf:
            names = zf.namelist()
            member = choose(names)
            if member is None:
                return names, None, b""
            try:
                return names, member, zf.read(member)
            except Exception as exc:
                raise self._unreachable(f"{member} of {f.filename}", exc) from None

    def _zip(self, f: IndexFile) -> Any:
        from remotezip import RangeNotSupported, RemoteZip

        try:
            return RemoteZip(f.url, session=self.session, timeout=self.timeout)
        except RangeNotSupported:
            # remotezip streams and stops at the headers: the wheel body is never downloaded.
            raise IndexUnreachable(
                f"package index {self.name} serves neither PEP 658 metadata files nor HTTP range requests "
                f"for {f.filename}, and envkit will not download whole wheels to read their METADATA",
                "point --index-url (or pip's index-url) at an index that serves either, e.g. PyPI or a "
                "proxy that passes Range headers through",
            ) from None
        except Exception as exc:
            raise self._unreachable(f"the wheel {f.filename}", exc) from None

    def _read_member(self, f: IndexFile, pick: Callable[[str], bool], missing_ok: bool = False) -> str:
        with self._zip(f) as zf:
            names = [n for n in zf.namelist() if pick(n)]
            if not names:
                if missing_ok:
                    return ""
                raise EnvkitError(f"{f.filename} on {self.name} has no .dist-info/METADATA", exit_code=1)
            try:
                return zf.read(names[0]).decode("utf-8", "replace")
            except Exception as exc:
                raise self._unreachable(f"the wheel {f.filename}", exc) from None

    def _unreachable(self, what: str, exc: BaseException) -> IndexUnreachable:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        why = redact_text(why.replace(self.url, self.name))
        status = getattr(getattr(exc, "response", None), "status_code", None)
        state = f"answered HTTP {status}" if status else "is unreachable"
        return IndexUnreachable(
            f"package index {self.name} {state}: reading {what} failed ({why})",
            "check the index URL (pip's index-url, PIP_INDEX_URL or --index-url) and the network; "
            "`make matrix-check` needs a connected machine",
        )


def parallel(fn: Callable[[T], R], items: Iterable[T], workers: int = WORKERS) -> list[R]:
    """fn over items on a thread pool (the work is network-bound); order kept, first error raised."""
    items = list(items)
    if not items:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))
