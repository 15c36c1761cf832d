"""Huawei Ascend NPUs through CANN and torch_npu: backend, host reader, matrix section, doctor
checks, probe fragment and the markers of envkit's lerobot patch.

The registry (envkit.accel) reads BACKEND only; nothing here is imported until a command needs it.
"""

BACKEND = "envkit.accel.ascend.backend:AscendBackend"
# Its typed host facts (HostFacts.accelerators["ascend"]), written under the JSON key "ascend".
FACTS = ("ascend", "envkit.accel.ascend.facts:AscendFacts")
# Where it comes among the built-ins (lower first): in messages, detect rows, report keys.
ORDER = 20
