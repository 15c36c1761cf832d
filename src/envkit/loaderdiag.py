"""What the dynamic loader says is missing, read from its own message (pure).

glibc's loader words a missing library the same way everywhere: dlopen()/ctypes raise
"<object>: <soname>: cannot open shared object file: No such file or directory" (the object whose
dependency is missing, then the missing soname), or "<soname>: cannot open shared object file"
when the library itself is absent; an executable dies with "error while loading shared libraries:
<soname>: cannot open ...". A library built against a newer one says "version `X' not found".
From the soname alone we know what provides it: libpython3.X (Debian's libpython3.X package),
libEGL (libegl1), FFmpeg's libav* (ffmpeg), NVIDIA's runtime (the torch build's nvidia-* wheels).

Every message torchcodec prints lists each FFmpeg major it tried; the absent majors' "cannot open"
lines are expected noise, so the first failure that is not an absent FFmpeg is the real cause
when one exists (a custom-ops library that needs libpython, say).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "<object>: <soname>: cannot open shared object file" or "<soname>: cannot open shared object file"
_CANNOT_OPEN = re.compile(r"(?:(?P<needed_by>[^\s:'\"(]+\.so[^\s:'\"]*): )?(?P<soname>[A-Za-z0-9_.+-]+?\.so(?:\.[0-9.]+)?)"
                          r": cannot open shared object file")
# A library that is there but unusable (truncated, another architecture, not ELF at all).
_BROKEN = re.compile(r"(?P<soname>lib[A-Za-z0-9_.+-]+?\.so(?:\.[0-9.]+)?): (?:file too short|invalid ELF header|wrong ELF class)")
_WHILE_LOADING = re.compile(r"error while loading shared libraries: (?P<soname>[A-Za-z0-9_.+-]+\.so[0-9.]*)")
_VERSION = re.compile(r"version `(?P<version>[^']+)' not found \(required by (?P<needed_by>[^)]+)\)")
_UNDEFINED = re.compile(r"(?P<needed_by>[^\s:'\"]+\.so[^\s:'\"]*): undefined symbol: (?P<symbol>\S+)")
# PyOpenGL's EGL/OSMesa platforms load by bare name ("EGL", "OSMesa") and say so.
_PYOPENGL = re.compile(r"Unable to load (?P<what>EGL|OSMesa|OpenGL) library")
# ... or, when its ctypes lookup found nothing, the first call through the missing library fails.
_PYOPENGL_NONE = re.compile(r"'NoneType' object has no attribute '(?P<what>egl|OSMesa|gl)[A-Z]\w*'")


@dataclass(frozen=True)
class LoaderFinding:
    kind: str  # "libpython" | "ffmpeg" | "egl" | "osmesa" | "gl" | "gpu-runtime" | "gomp" | "libstdc++" | "symbol" | "other"
    soname: str | None  # what is missing (a soname, or a symbol version such as GLIBCXX_3.4.32)
    needed_by: str | None  # the object whose dependency it is (None: it was loaded directly)
    line: str  # the loader's own line

    @property
    def debian_package(self) -> str | None:
        """The Debian/Ubuntu package that provides it (None: not a distribution package)."""
        return debian_package(self.kind, self.soname)

    def summary(self) -> str:
        what = self.soname or "a library"
        by = f" (needed by {self.needed_by.rsplit('/', 1)[-1]})" if self.needed_by else ""
        if self.kind == "symbol":
            return f"{by.strip(' ()') or 'a library'} references {what}, which the loaded libraries do not define"
        return f"{what} is missing{by}"


_KINDS = (
    (re.compile(r"^libpython3\.\d+"), "libpython"),
    (re.compile(r"^lib(avutil|avcodec|avformat|avdevice|avfilter|swscale|swresample|postproc)\.so"), "ffmpeg"),
    # torchcodec's own per-FFmpeg-major libraries: one fails to load wherever that major is absent or
    # unusable, and torchcodec tries every major, so they are FFmpeg noise like the absent libav*.
    (re.compile(r"^libtorchcodec_\w*?\d+\.so"), "ffmpeg"),
    (re.compile(r"^libEGL"), "egl"),
    (re.compile(r"^libOSMesa"), "osmesa"),
    (re.compile(r"^lib(GL|GLX|OpenGL|GLdispatch)\.so"), "gl"),
    (re.compile(r"^lib(cuda|cudart|nvrtc|cudnn|cublas|cublasLt|cufft|curand|cusolver|cusparse|nccl|nvJitLink|npp\w*|nvToolsExt|cupti)"), "gpu-runtime"),
    (re.compile(r"^libgomp"), "gomp"),
    (re.compile(r"^GLIBCXX_|^CXXABI_"), "libstdc++"),
)


def _kind(soname: str) -> str:
    for pattern, kind in _KINDS:
        if pattern.search(soname):
            return kind
    return "other"


def debian_package(kind: str, soname: str | None) -> str | None:
    if kind == "libpython" and soname:
        return "libpython" + re.match(r"libpython(3\.\d+)", soname).group(1)  # type: ignore[union-attr]
    return {"ffmpeg": "ffmpeg", "egl": "libegl1", "osmesa": "libosmesa6", "gl": "libgl1", "gomp": "libgomp1",
            "libstdc++": "libstdc++6"}.get(kind)


def classify(text: str) -> list[LoaderFinding]:
    """Every missing library or symbol the loader names in `text`, in order, each once."""
    found: dict[tuple[str, str | None, str | None], LoaderFinding] = {}
    for raw in text.splitlines():
        line = raw.strip()
        hits: list[LoaderFinding] = []
        for m in _CANNOT_OPEN.finditer(line):
            soname = m.group("soname")
            hits.append(LoaderFinding(_kind(soname), soname, m.group("needed_by"), line))
        for m in _BROKEN.finditer(line):
            hits.append(LoaderFinding(_kind(m.group("soname")), m.group("soname"), None, line))
        if not hits:
            m = _WHILE_LOADING.search(line)
            if m:
                hits.append(LoaderFinding(_kind(m.group("soname")), m.group("soname"), None, line))
        for m in _VERSION.finditer(line):
            hits.append(LoaderFinding(_kind(m.group("version")), m.group("version"), m.group("needed_by"), line))
        for m in _UNDEFINED.finditer(line):
            hits.append(LoaderFinding("symbol", m.group("symbol"), m.group("needed_by"), line))
        m = _PYOPENGL.search(line) or _PYOPENGL_NONE.search(line)
        if m and not hits:
            kind = {"EGL": "egl", "egl": "egl", "OSMesa": "osmesa", "OpenGL": "gl", "gl": "gl"}[m.group("what")]
            hits.append(LoaderFinding(kind, {"egl": "libEGL.so.1", "osmesa": "libOSMesa.so", "gl": "libGL.so.1"}[kind], None, line))
        for hit in hits:
            found.setdefault((hit.kind, hit.soname, hit.needed_by), hit)
    return list(found.values())


def cause(text: str) -> LoaderFinding | None:
    """The one finding that explains the failure: a missing non-FFmpeg library beats the FFmpeg majors
    torchcodec tried and did not find (it tries them all); an undefined symbol beats both."""
    findings = classify(text)
    for rank in (lambda k: k == "symbol", lambda k: k != "ffmpeg", lambda k: True):
        for f in findings:
            if rank(f.kind):
                return f
    return None
