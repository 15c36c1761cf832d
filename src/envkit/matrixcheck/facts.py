"""Version facts from index data: wheel tags, METADATA requirements, wheel file lists. Pure."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import HeaderParser

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

ARCHES = ("x86_64", "aarch64")


@dataclass(frozen=True)
class Wheel:
    filename: str
    version: Version
    arch: str | None  # "x86_64" / "aarch64" for Linux wheels, None for others
    pythons: tuple[str, ...]  # CPython minors the tags name ("3.11"); () for py3-none
    any_python: bool  # a py3 / abi3 wheel: every CPython from its floor


def parse_wheel(filename: str) -> Wheel | None:
    """A wheel's version, Linux arch and CPython minors from its file name; None if not a wheel."""
    try:
        _, version, _, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    arch = None
    for t in tags:
        if t.platform.startswith(("manylinux", "linux", "musllinux")):
            arch = next((a for a in ARCHES if t.platform.endswith("_" + a)), arch)
    pythons = set()
    any_python = False
    for t in tags:
        m = re.fullmatch(r"cp3(\d+)", t.interpreter)
        if m and t.abi not in ("abi3",) and not t.abi.endswith("t"):
            pythons.add(f"3.{m[1]}")
        elif t.interpreter.startswith("py3") or t.abi == "abi3":
            any_python = True
    order = sorted(pythons, key=lambda v: int(v.split(".")[1]))
    return Wheel(filename, version, arch, tuple(order), any_python)


def python_range(minors: Iterable[str]) -> str | None:
    """CPython minors ["3.10", "3.11"] -> ">=3.10,<3.12" (the matrix's `python` field form)."""
    nums = sorted({int(m.split(".")[1]) for m in minors})
    if not nums:
        return None
    return f">=3.{nums[0]},<3.{nums[-1] + 1}"


def minors_in(spec: str, lo: int = 6, hi: int = 20) -> set[str]:
    """The CPython minors 3.lo..3.hi a specifier admits (as X.Y.0, which is how tags read)."""
    s = SpecifierSet(spec)
    return {f"3.{n}" for n in range(lo, hi + 1) if Version(f"3.{n}.0") in s or Version(f"3.{n}") in s}


@dataclass(frozen=True)
class Metadata:
    name: str
    version: Version
    requires_python: str | None
    requires: tuple[Requirement, ...]


def parse_metadata(text: str) -> Metadata:
    """Core metadata (RFC 822 headers) -> the fields the matrix compares."""
    msg = HeaderParser().parsestr(text, headersonly=True)
    reqs = []
    for raw in msg.get_all("Requires-Dist") or []:
        try:
            reqs.append(Requirement(raw))
        except InvalidRequirement:
            continue  # a malformed line in someone else's metadata is not ours to fail on
    rp = msg.get("Requires-Python")
    return Metadata(
        name=str(msg.get("Name", "")),
        version=Version(str(msg.get("Version", "0"))),
        requires_python=str(rp).strip() if rp else None,
        requires=tuple(reqs),
    )


def linux_env(arch: str, python: str = "3.12") -> dict[str, str]:
    """Marker environment of a Linux host, to evaluate a wheel's requirements as it installs."""
    env = default_environment()
    env.update(
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
        platform_machine=arch,
        python_version=python,
        python_full_version=python + ".0",
        implementation_name="cpython",
        platform_python_implementation="CPython",
    )
    return env


def active(reqs: Iterable[Requirement], env: dict[str, str], extras: Iterable[str] = ()) -> list[Requirement]:
    """Requirements whose markers hold in `env` (with no extra, or one of `extras`)."""
    out = []
    for r in reqs:
        if r.marker is None:
            out.append(r)
            continue
        for extra in ("", *extras):
            if r.marker.evaluate({**env, "extra": extra}):
                out.append(r)
                break
    return out


# cuda-toolkit[...]==13.0.2 (torch >= 2.14 style) or nvidia-cuda-runtime-cu12==12.8.90 (before):
# the runtime's major.minor is the build's CUDA version.
_CUDA_REQS = ("cuda-toolkit", "nvidia-cuda-runtime", "nvidia-cuda-runtime-cu11", "nvidia-cuda-runtime-cu12", "nvidia-cuda-runtime-cu13")


def cuda_build(meta: Metadata, arch: str, python: str = "3.12") -> tuple[str, str | None]:
    """(build name, the requirement that says so) of a torch wheel: "cu128", "cu130" or "cpu"."""
    for r in active(meta.requires, linux_env(arch, python)):
        if canonicalize_name(r.name) not in _CUDA_REQS:
            continue
        pins = [s.version for s in r.specifier if s.operator in ("==", "===")]
        m = re.match(r"(\d+)\.(\d+)", pins[0]) if pins else None
        if m:
            return f"cu{m[1]}{m[2]}", str(r)
    return "cpu", None


def requirement_on(meta: Metadata, name: str, arch: str = "x86_64", python: str = "3.12") -> Requirement | None:
    """The requirement on `name` that applies on Linux `arch` (None when there is none)."""
    key = canonicalize_name(name)
    for r in active(meta.requires, linux_env(arch, python)):
        if canonicalize_name(r.name) == key:
            return r
    return None


def pinned_version(req: Requirement) -> str | None:
    """"torch==2.8.0" -> "2.8.0" ("==2.14.0.*" -> "2.14.0"); None for a range."""
    pins = [s.version for s in req.specifier if s.operator in ("==", "===")]
    if len(pins) != 1 or len(req.specifier) != 1:
        return None
    return pins[0][:-2] if pins[0].endswith(".*") else pins[0]


def ffmpeg_majors(names: Iterable[str]) -> list[int]:
    """torchcodec ships one libtorchcodec_core{N}.so per FFmpeg major N it can load (0.3-0.4:
    libtorchcodec_decoder{N}.so, before 0.3: libtorchcodec{N}.so)."""
    pattern = r"libtorchcodec(?:_core|_decoder)?(\d+)\.so$"
    found = {int(m[1]) for n in names if (m := re.search(pattern, n))}
    return sorted(found)


def ffmpeg_lib_to_read(names: Iterable[str]) -> str | None:
    """The per-FFmpeg library of the newest FFmpeg major in a torchcodec wheel: the one member
    `--deep` reads (a few hundred kB) for its DT_NEEDED entries."""
    pattern = r"libtorchcodec(?:_core|_decoder)?(\d+)\.so$"
    libs = [(int(m[1]), n) for n in names if (m := re.search(pattern, n))]
    return max(libs)[1] if libs else None


def dt_needed(elf: bytes) -> list[str]:
    """The DT_NEEDED sonames of a shared library (what `readelf -d` lists), via pyelftools."""

    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    try:
        f = ELFFile(io.BytesIO(elf))
        out: list[str] = []
        for section in f.iter_sections():
            if isinstance(section, DynamicSection):
                out += [t.needed for t in section.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
        return out
    except ELFError:
        return []


def cuda_major_linked(needed: Iterable[str]) -> int | None:
    """libcudart.so.13 / libnvrtc.so.13 -> 13; None for a CPU build."""
    for n in needed:
        m = re.fullmatch(r"lib(?:cudart|nvrtc)\.so\.(\d+)", n)
        if m:
            return int(m[1])
    return None


def ffmpeg_sonames_linked(needed: Iterable[str]) -> dict[str, int]:
    """libavutil.so.60 -> {"avutil": 60}, for every FFmpeg library a torchcodec core links."""
    out = {}
    for n in needed:
        m = re.fullmatch(r"lib(avutil|avcodec|avformat|avdevice|avfilter|swscale|swresample)\.so\.(\d+)", n)
        if m:
            out[m[1]] = int(m[2])
    return out


def avutil_major(names: Iterable[str]) -> int | None:
    """PyAV bundles its FFmpeg as av.libs/libavutil-<hash>.so.<N>; N is avutil's soname major."""
    for n in names:
        m = re.search(r"(?:^|/)libavutil[-.][^/]*?\.so\.(\d+)", n)
        if m:
            return int(m[1])
    return None


def entry_point_target(entry_points: str, name: str) -> str | None:
    """`lerobot-train = lerobot.scripts.lerobot_train:main` -> "lerobot.scripts.lerobot_train"."""
    for line in entry_points.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip().split(":")[0].strip()
    return None
