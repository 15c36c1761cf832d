"""The FakeAccel backend's probe fragment: standard library only, run inside the target interpreter.

The doctor's probe imports this file from a copy beside itself, reads DISTS and ENV_PREFIXES
before anything else, and calls probe(torch) once torch imported.
"""

FACTS_KEY = "fakeaccel_facts"
DISTS = {"fakeaccel_runtime": ("fakeaccel-runtime", "fakeaccel_runtime")}
ENV_PREFIXES = ("FAKEACCEL_",)


def probe(torch):
    import importlib.util

    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "runtime_module": importlib.util.find_spec("fakeaccel_runtime") is not None}
