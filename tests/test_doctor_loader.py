"""The doctor names the library the loader says is missing (torchcodec.load, hooks.mujoco_gl), and
lerobot.requirements names a missing training extra with the exact install command."""

from __future__ import annotations

import email
import json
from pathlib import Path

from envkit.doctor.checks import hooks, lerobot, video
from envkit.doctor.model import Context, Status
from envkit.resolve import marker_env_for

DATA = Path(__file__).parent / "data"
MESSAGES = {m["id"]: m["message"] for m in json.loads((DATA / "loader-messages" / "transcribed.json").read_text())["messages"]}
RECORDED = {m["id"]: m["message"] for m in json.loads((DATA / "loader-messages" / "messages.json").read_text())["messages"]}
HOST = {"schema_version": 1, "os": {"system": "Linux", "release": "6.1"}, "arch": "x86_64", "platform": "linux-64",
        "python": {"version": "3.13.5"}}


def _ctx(probe: dict) -> Context:
    probe = {"python": {"executable": "/srv/env/bin/python"}, "marker_env": marker_env_for("linux-64", "3.13"), **probe}
    return Context(probe=probe, host=HOST)


def test_torchcodec_load_blames_libpython_not_ffmpeg() -> None:
    probe = {"dists": {"torchcodec": "0.17.0", "torch": "2.15.0"},
             "video": {"torchcodec": {"installed": True, "import_ok": False,
                                             "import_error": {"type": "RuntimeError", "message": MESSAGES["torchcodec-libpython"]}}}}
    out = video.load(_ctx(probe))
    assert out.status == Status.FAIL
    assert "libpython3.13.so.1.0 is missing (needed by libtorchcodec_custom_ops7.so)" in out.summary
    assert "FFmpeg" not in out.summary and "apt-get install -y --no-install-recommends libpython3.13" in out.fix


def test_torchcodec_load_still_names_ffmpeg_when_that_is_what_is_missing() -> None:
    probe = {"dists": {"torchcodec": "0.17.0", "torch": "2.15.0"},
             "video": {"torchcodec": {"installed": True, "import_ok": False,
                                             "import_error": {"type": "OSError", "message": RECORDED["libavutil"]}}}}
    out = video.load(_ctx(probe))
    assert out.status == Status.FAIL and "FFmpeg" in out.summary and "ffmpeg" in out.fix


def test_mujoco_gl_without_mujoco_is_not_a_failure() -> None:
    gl = {"value": "egl", "known": True, "loaded": None, "errors": [RECORDED["libegl"]]}
    assert hooks.mujoco_gl(_ctx({"libs": {"mujoco_gl": gl}, "dists": {}})).status == Status.SKIP
    out = hooks.mujoco_gl(_ctx({"libs": {"mujoco_gl": gl}, "dists": {"mujoco": "3.3.0"}}))
    assert out.status == Status.FAIL and "libEGL.so.1 is missing" in out.summary and "libegl1" in out.fix


def _lerobot_061(installed: dict[str, str]) -> dict:
    meta = email.message_from_string((DATA / "lerobot-metadata" / "lerobot-0.6.1.METADATA").read_text())
    requires = meta.get_all("Requires-Dist")
    names = {r.split(";")[0].split("<")[0].split(">")[0].split("=")[0].split("[")[0].strip() for r in requires}
    return {"installed": True, "version": "0.6.1", "requires": requires, "provides_extra": meta.get_all("Provides-Extra"),
            "versions": {n: installed.get(n) for n in names}}


BASE = {"torch": "2.11.0", "torchvision": "0.26.0", "numpy": "2.2.6", "opencv-python-headless": "4.12.0.88", "Pillow": "11.3.0",
        "einops": "0.8.1", "draccus": "0.11.6", "huggingface-hub": "1.6.0", "requests": "2.32.5", "gymnasium": "1.2.0",
        "safetensors": "0.6.2", "packaging": "25.0", "termcolor": "3.1.0", "tqdm": "4.67.1", "cmake": "4.1.0", "setuptools": "80.9.0"}


def test_missing_training_extra_names_the_install_command() -> None:
    out = lerobot.requirements(_ctx({"lerobot_dist": _lerobot_061(BASE)}))
    assert out.status == Status.FAIL and "'training' extra" in out.summary and "datasets" in out.summary
    assert out.fix.startswith("/srv/env/bin/python -m pip install") and "'accelerate<2.0.0,>=1.14.0'" in out.fix
    assert "lerobot[training]==0.6.1" in out.fix


def test_training_extra_installed_is_green() -> None:
    full = {**BASE, "datasets": "4.8.1", "pandas": "2.3.2", "pyarrow": "21.0.0", "jsonlines": "4.0.0", "wandb": "0.24.0",
            "av": "15.1.0", "accelerate": "1.14.0", "torchcodec": "0.11.0"}
    assert lerobot.requirements(_ctx({"lerobot_dist": _lerobot_061(full)})).status == Status.OK
