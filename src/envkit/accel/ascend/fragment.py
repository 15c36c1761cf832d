"""The Ascend backend's probe fragment (standard library only; runs in the target interpreter).

torch_npu's own texts are kept verbatim: the npu.* checks recognise them.
"""

import importlib.util
import re
import traceback

FACTS_KEY = "npu_facts"  # the probe files probe(torch) as torch["npu_facts"] (torch's device name)
ENV_PREFIXES = ("ASCEND_", "HCCL_")  # which variables of the target's environment the npu.* checks read
DISTS = {"torch_npu": ("torch_npu", "torch-npu")}  # the distribution's name as wheels and sdists spell it


def lerobot(root, device_text):
    """Whether lerobot's device utils know 'npu', and whether its train script imports torch_npu."""
    facts = {"train_patched_npu": "import torch_npu" in _read(root + "/scripts/lerobot_train.py")}
    if device_text:
        facts["device_npu_branch"] = bool(re.search(r"""["']npu["']""", device_text))
    return facts


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


def _err(exc):
    return {"type": type(exc).__name__, "message": str(exc)[:4000], "traceback": traceback.format_exc()[-6000:]}


def probe(torch):
    npu = {"torch_has_npu": hasattr(torch, "npu")}
    try:
        if importlib.util.find_spec("torch_npu") is None:
            npu["torch_npu"] = None
            return npu
        import torch_npu  # noqa: F401

        npu["torch_npu"] = getattr(torch_npu, "__version__", "unknown")
    except BaseException as exc:
        npu["import_error"] = _err(exc)
        return npu
    try:
        npu["available"] = bool(torch.npu.is_available())
        npu["device_count"] = int(torch.npu.device_count())
    except BaseException as exc:
        npu["available_error"] = _err(exc)
    try:
        from torch_npu.npu.utils import get_cann_version

        npu["cann_version"] = get_cann_version()
    except BaseException:
        pass
    if npu.get("available"):
        try:
            x = torch.ones(8, device="npu")
            npu["kernel"] = {"ok": float((x * 2).sum().item()) == 16.0}
        except BaseException as exc:
            npu["kernel"] = {"ok": False, "error": _err(exc)}
    return npu
