"""The loader-message classifier on real loader messages (tests/data/loader-messages)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envkit.loaderdiag import cause, classify, debian_package

DATA = Path(__file__).parent / "data" / "loader-messages"
RECORDED = {m["id"]: m["message"] for m in json.loads((DATA / "messages.json").read_text())["messages"]}
TRANSCRIBED = {m["id"]: m["message"] for m in json.loads((DATA / "transcribed.json").read_text())["messages"]}


@pytest.mark.parametrize("case,kind,soname,package", [
    ("libpython", "libpython", "libpython3.13.so.1.0", "libpython3.13"),
    ("libegl", "egl", "libEGL.so.1", "libegl1"),
    ("libosmesa", "osmesa", "libOSMesa.so.8", "libosmesa6"),
    ("libavutil", "ffmpeg", "libavutil.so.59", "ffmpeg"),
    ("libnvrtc", "gpu-runtime", "libnvrtc.so.12", None),
    ("libcudnn", "gpu-runtime", "libcudnn.so.9", None),
    ("dependency", "ffmpeg", "libavcodec.so.59", "ffmpeg"),
    ("executable", "ffmpeg", "libavdevice.so.59", "ffmpeg"),
    ("pyopengl-egl", "egl", "libEGL.so.1", "libegl1"),
])
def test_recorded_messages(case: str, kind: str, soname: str, package: str | None) -> None:
    found = cause(RECORDED[case])
    assert found is not None and (found.kind, found.soname, found.debian_package) == (kind, soname, package)


def test_torchcodec_blames_libpython_not_ffmpeg() -> None:
    text = TRANSCRIBED["torchcodec-libpython"]
    kinds = [f.kind for f in classify(text)]
    assert kinds == ["libpython", "ffmpeg", "ffmpeg"]  # every major torchcodec tried is there...
    found = cause(text)  # ...but the cause is the library the loader could not find for the major that exists
    assert found is not None and found.kind == "libpython" and found.needed_by == "libtorchcodec_custom_ops7.so"
    assert found.summary() == "libpython3.13.so.1.0 is missing (needed by libtorchcodec_custom_ops7.so)"


def test_symbol_version_and_undefined_symbol() -> None:
    version = cause(TRANSCRIBED["glibcxx"])
    assert version is not None and (version.kind, version.soname) == ("libstdc++", "GLIBCXX_3.4.32")
    assert version.needed_by.endswith("libtorch_python.so")
    symbol = cause(TRANSCRIBED["undefined-symbol"] + "\n" + RECORDED["libavutil"])
    assert symbol is not None and symbol.kind == "symbol"  # an ABI mismatch outranks the absent FFmpeg majors


def test_nothing_to_say() -> None:
    assert classify("ModuleNotFoundError: No module named 'torchcodec'") == [] and cause("") is None
    assert debian_package("other", "libfoo.so.1") is None


def test_hidden_ffmpeg_is_ffmpeg_not_torchcodecs_own_library() -> None:
    """FFmpeg present but unusable (tests/test_doctor_real.py binds /dev/null over each libav*.so.*): the
    loader says "file too short" for the installed major and torchcodec's per-major libraries fail for
    the others; none of that is a library to install besides FFmpeg."""
    text = ("/venv/lib/python3.11/site-packages/torchcodec/libtorchcodec_custom_ops4.so: libtorchcodec_core4.so: "
            "cannot open shared object file: No such file or directory\n"
            "/venv/lib/python3.11/site-packages/torchcodec/libtorchcodec_core5.so: libavutil.so.57: file too short\n"
            "libavutil.so.60: cannot open shared object file: No such file or directory")
    found = cause(text)
    assert found is not None and found.kind == "ffmpeg"
    assert {f.kind for f in classify(text)} == {"ffmpeg"}
