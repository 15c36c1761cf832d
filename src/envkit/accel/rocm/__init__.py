"""AMD GPUs through ROCm (Instinct MI300X, Radeon RX 7900 XTX, ...): backend, host reader, matrix
section (builds.toml), doctor checks and probe fragment.

The registry (envkit.accel) reads BACKEND only; nothing here is imported until a command needs it.
"""

BACKEND = "envkit.accel.rocm.backend:RocmBackend"
# Where it comes among the built-ins (lower first): in messages, detect rows, report keys.
ORDER = 30
