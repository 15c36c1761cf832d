"""NVIDIA GPUs through CUDA: backend, host reader, matrix section, doctor checks and probe fragment.

The registry (envkit.accel) reads BACKEND only; nothing here is imported until a command needs it.
"""

BACKEND = "envkit.accel.cuda.backend:CudaBackend"
# Its typed host facts (HostFacts.accelerators["cuda"]), written under the JSON key "nvidia".
FACTS = ("nvidia", "envkit.accel.cuda.facts:NvidiaFacts")
# Where it comes among the built-ins (lower first): in messages, detect rows, report keys.
ORDER = 10
