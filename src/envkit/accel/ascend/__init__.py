"""Huawei Ascend NPUs through CANN and torch_npu: backend, host reader, matrix section, doctor
checks, probe fragment and the markers of envkit's lerobot patch.

The registry (envkit.accel) reads BACKEND only; nothing here is imported until a command needs it.
"""

BACKEND = "envkit.accel.ascend.backend:AscendBackend"
# Where it comes among the built-ins (lower first): in messages, detect rows, report keys.
ORDER = 20
