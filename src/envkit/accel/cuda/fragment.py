"""The CUDA backend's probe fragment (standard library only; runs in the target interpreter).

Error texts are kept verbatim: the cuda.* checks recognise them ("no kernel image", ...).
"""

import traceback

FACTS_KEY = "cuda_facts"  # the probe files probe(torch) as torch["cuda_facts"]
ENV_PREFIXES = ("CUDA_", "NCCL_")  # which variables of the target's environment the cuda.* checks read


def _err(exc):
    return {"type": type(exc).__name__, "message": str(exc)[:4000], "traceback": traceback.format_exc()[-6000:]}


def probe(torch):
    cuda = {"built": bool(getattr(torch.version, "cuda", None))}
    try:
        cuda["arch_list"] = torch.cuda.get_arch_list()
    except Exception as exc:
        cuda["arch_list_error"] = str(exc)
    try:
        # The NCCL torch was built with: every node of a multi-node run must agree on it.
        cuda["nccl"] = ".".join(str(p) for p in torch.cuda.nccl.version())
    except Exception:
        cuda["nccl"] = None
    try:
        cuda["available"] = torch.cuda.is_available()
        cuda["device_count"] = torch.cuda.device_count()
    except Exception as exc:
        cuda["available_error"] = _err(exc)
        return cuda
    if not cuda.get("available"):
        return cuda
    devices = []
    for i in range(cuda["device_count"]):
        try:
            major, minor = torch.cuda.get_device_capability(i)
            devices.append({"index": i, "name": torch.cuda.get_device_name(i), "capability": "%d.%d" % (major, minor)})
        except Exception as exc:
            devices.append({"index": i, "error": str(exc)})
    cuda["devices"] = devices
    # is_available() is True even when the build has no kernels for this GPU: launch one.
    try:
        x = torch.arange(8, device="cuda", dtype=torch.float32)
        value = float((x * 2).sum().item())
        torch.cuda.synchronize()
        cuda["kernel"] = {"ok": value == 56.0, "value": value}
    except BaseException as exc:
        cuda["kernel"] = {"ok": False, "error": _err(exc)}
    return cuda
