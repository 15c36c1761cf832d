"""Record real loader messages in a minimal Debian 13 root (tests/debian13.py), where the libraries a
fresh server lacks are really absent: `python -m tests.data.loader-messages.record` is not importable
(dash), so run it as `.venv/bin/python tests/data/loader-messages/record.py` (root).

Each message is what glibc's loader (through dlopen/ctypes, an executable, or PyOpenGL) printed;
messages.json keeps it verbatim with the command that produced it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from tests.debian13 import debian_root  # noqa: E402

OUT = Path(__file__).with_name("messages.json")
CTYPES = "import ctypes, sys\ntry:\n    ctypes.CDLL(sys.argv[1])\nexcept OSError as exc:\n    print(exc)\n"
# A library whose own dependency is absent in the root: the host's FFmpeg (Debian 12, FFmpeg 5.1).
HOST_LIBS = ["/usr/lib/x86_64-linux-gnu/libavformat.so.59", "/usr/bin/ffmpeg"]


def main() -> None:
    root = debian_root()
    session = root.session("loader-messages")
    session.reset()
    tmp = session.host_path("/root/rec")
    tmp.mkdir(parents=True)
    (tmp / "dl.py").write_text(CTYPES)
    for lib in HOST_LIBS:
        shutil.copy2(lib, tmp / Path(lib).name)
    cases = [
        ("libpython", ["python3", "/root/rec/dl.py", "libpython3.13.so.1.0"]),
        ("libegl", ["python3", "/root/rec/dl.py", "libEGL.so.1"]),
        ("libosmesa", ["python3", "/root/rec/dl.py", "libOSMesa.so.8"]),
        ("libavutil", ["python3", "/root/rec/dl.py", "libavutil.so.59"]),
        ("libnvrtc", ["python3", "/root/rec/dl.py", "libnvrtc.so.12"]),
        ("libcudnn", ["python3", "/root/rec/dl.py", "libcudnn.so.9"]),
        ("dependency", ["python3", "/root/rec/dl.py", "/root/rec/libavformat.so.59"]),
        ("executable", ["/root/rec/ffmpeg", "-version"]),
        ("pyopengl-egl", ["bash", "-c", "python3 -m venv /root/rec/v >/dev/null && /root/rec/v/bin/pip install -q PyOpenGL==3.1.9 "
                          "&& PYOPENGL_PLATFORM=egl /root/rec/v/bin/python -c 'from OpenGL import EGL' 2>&1 | tail -1"]),
    ]
    out = []
    for case, argv in cases:
        proc = session.run(argv, timeout=600)
        text = (proc.stdout + proc.stderr).strip()
        out.append({"id": case, "command": argv, "message": text})
        print(case, "->", text)
    data = {"source": "recorded by tests/data/loader-messages/record.py in a debootstrap Debian 13 (trixie) minbase root "
                      "with python3 python3-venv make git ca-certificates (tests/debian13.py), glibc 2.41",
            "messages": out}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    session.reset()


if __name__ == "__main__":
    main()
