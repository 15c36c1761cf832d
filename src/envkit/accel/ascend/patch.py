"""The markers of envkit's NPU patch for lerobot (patches/lerobot-*-npu.patch).

Every block the patch adds carries an ``envkit-npu-patch(<id>)`` comment; envkit.lerobot_patch
looks for them in the installed package (the Ascend backend declares them as its patch_markers).
"""

from __future__ import annotations

MARKER_TAG = "envkit-npu-patch"

# Marker strings per file, relative to the `lerobot` package directory. Each one is the tag of
# one added block of the patch; all present = the patch is in.
PATCH_MARKERS: dict[str, tuple[str, ...]] = {
    "utils/utils.py": (
        "envkit-npu-patch(npu-probe)",
        "envkit-npu-patch(auto-select)",
        "envkit-npu-patch(safe-device)",
        "envkit-npu-patch(device-available)",
        "envkit-npu-patch(amp)",
    ),
    "scripts/lerobot_train.py": ("envkit-npu-patch(torch-npu-import)",),
    "configs/train.py": ("envkit-npu-patch(rank0-output-dir)",),
}
