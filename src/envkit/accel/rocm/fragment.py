"""The ROCm backend's probe fragment (standard library only; runs in the target interpreter).

A ROCm build of torch reuses torch.cuda (the device string is "cuda"), so what tells it apart is
torch.version.hip; every fact here is read only when that is set, and the CUDA fragment's view of
the same devices is left to the CUDA backend (whose checks skip on an AMD host).
"""

import traceback

FACTS_KEY = "rocm_facts"  # the probe files probe(torch) as torch["rocm_facts"]
# Variables of the target's environment the rocm.* checks read: device selection (HIP_, ROCR_, CUDA_),
# the gfx override (HSA_) and RCCL, which reads NCCL's names.
ENV_PREFIXES = ("HIP_", "ROCR_", "HSA_", "CUDA_VISIBLE", "NCCL_", "RCCL_")


def _err(exc):
    return {"type": type(exc).__name__, "message": str(exc)[:4000], "traceback": traceback.format_exc()[-6000:]}


def probe(torch):
    hip = getattr(torch.version, "hip", None)
    facts = {"built": bool(hip), "hip": hip}
    if not hip:
        return facts
    try:
        facts["arch_list"] = torch.cuda.get_arch_list()
    except Exception as exc:
        facts["arch_list_error"] = str(exc)
    try:
        # torch.distributed's "nccl" backend is RCCL in a ROCm build; its version, as torch reports it.
        facts["rccl"] = ".".join(str(p) for p in torch.cuda.nccl.version())
    except Exception:
        facts["rccl"] = None
    try:
        facts["available"] = torch.cuda.is_available()
        facts["device_count"] = torch.cuda.device_count()
    except Exception as exc:
        facts["available_error"] = _err(exc)
        return facts
    if not facts.get("available"):
        return facts
    devices = []
    for i in range(facts["device_count"]):
        try:
            props = torch.cuda.get_device_properties(i)
            devices.append({"index": i, "name": props.name, "gcn_arch": getattr(props, "gcnArchName", None)})
        except Exception as exc:
            devices.append({"index": i, "error": str(exc)})
    facts["devices"] = devices
    # is_available() is True even when the wheel has no code object for this gfx: launch one kernel.
    try:
        x = torch.arange(8, device="cuda", dtype=torch.float32)
        value = float((x * 2).sum().item())
        torch.cuda.synchronize()
        facts["kernel"] = {"ok": value == 56.0, "value": value}
    except BaseException as exc:
        facts["kernel"] = {"ok": False, "error": _err(exc)}
    return facts
