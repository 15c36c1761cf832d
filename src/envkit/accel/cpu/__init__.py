"""No accelerator: torch's CPU build; the fallback every host can run.

The registry (envkit.accel) reads BACKEND only; nothing here is imported until a command needs it.
"""

BACKEND = "envkit.accel.cpu.backend:CpuBackend"
# Where it comes among the built-ins (lower first): in messages, detect rows, report keys.
ORDER = 90
