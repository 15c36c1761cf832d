"""The doctor's view of the accelerator backends: which are installed, which one training uses,
and what each brings to the doctor (its check module, its probe fragment).

A backend names its doctor parts in the `# --- doctor ---` block of its class:

- `checks_module`: dotted path of a module that exports `CHECKS` (a list of `Check`) and may export
  `SMOKE_NEEDS` (its check ids the training smoke must wait for) and these hooks, each a pure
  function of the doctor's Context:
    explain_torch_import(ctx, text, details) -> Outcome | None   why `import torch` fails, if it is this accelerator's doing
    torch_build(ctx) -> Outcome | None                           whether torch's build fits this accelerator
    build_name(ctx) -> str | None                                torch's build as this accelerator names it ("CUDA 12.8"), if it is its build
    versions(ctx) -> dict[str, Any]                              its keys of the report's tuple (fleet compares them)
    report_rows(ctx) -> list[tuple[str, Any]]                    its rows of `doctor --report`
- `probe_fragment`: dotted path of a standard-library-only module with `probe(torch) -> dict`, or
  "module:function" for a self-contained function (e.g. in the check module); the probe runs it inside
  the target interpreter and files the result as torch[FACTS_KEY] (the module's
  FACTS_KEY, default "<backend name>_facts"). Optional: DISTS ({key: (distribution names to try)}),
  ENV_PREFIXES (variables of the target's environment its checks read), lerobot(root, device_text) -> dict.

Which accelerator is "present" is the backend's own `detected(host)`, the rule `envkit detect` uses.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from functools import lru_cache
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any

from envkit.accel.registry import all_backends, get_backend, in_use, is_fallback, on_host  # noqa: F401 - the doctor's names for them
from envkit.doctor.outcome import Check, fail

if TYPE_CHECKING:
    from envkit.accel.base import Backend


# Which backends there are and which one a host uses: the registry's (envkit.accel.registry).
installed = all_backends
named = get_backend


@lru_cache(maxsize=None)
def _module(dotted: str) -> ModuleType:
    return importlib.import_module(dotted)


def checks_module(backend: "Backend") -> ModuleType | None:
    dotted = getattr(backend, "checks_module", None)
    return _module(dotted) if dotted else None


def check_modules() -> list[Any]:
    """Every installed backend's check module, once each, in the registry's order.

    A module that does not import (a broken plug-in) becomes one failing check named for its
    backend: the doctor still runs every other check."""
    seen: dict[str, Any] = {}
    for backend in installed():
        dotted = getattr(backend, "checks_module", None)
        if dotted and dotted not in seen:
            try:
                seen[dotted] = _module(dotted)
            except Exception as exc:
                seen[dotted] = _unimportable(backend, dotted, exc)
    return list(seen.values())


def _unimportable(backend: "Backend", dotted: str, exc: Exception) -> Any:
    def explain(ctx: Any) -> Any:
        return fail(f"the {backend.name} backend's check module {dotted} does not import: {type(exc).__name__}: {exc}",
                    f"reinstall the distribution that provides the '{backend.name}' backend (its checks_module is {dotted})")

    return SimpleNamespace(CHECKS=[Check(f"{backend.name}.checks", f"the {backend.name} backend's checks load", explain)])


def hooks(name: str) -> list[Any]:
    """The hook `name` of every backend check module that defines it."""
    return [fn for m in check_modules() if (fn := getattr(m, name, None)) is not None]


def torch_version_attrs() -> list[str]:
    """The torch.version attributes the installed backends read (each once, in the registry's order)."""
    return list(dict.fromkeys(a for b in installed() for a in b.torch_version_attrs))


def device_runtimes() -> dict[str, str]:
    """device string -> the module to import before that device is usable (Backend.device_runtime)."""
    return {b.device: b.device_runtime for b in installed() if b.device_runtime}


def probe_fragments(backends: list["Backend"] | None = None) -> list[tuple[str, str]]:
    """(facts key, Python source) of each backend's probe fragment, for the probe to run in the target.

    `probe_fragment` names a stdlib-only module ("pkg.fragment") or a self-contained function
    ("pkg.checks:probe", its imports inside its body; FACTS_KEY/DISTS/ENV_PREFIXES read from its
    module), so a plug-in can keep its fragment in its check module. The key is FACTS_KEY (default
    "<backend name>_facts"). A fragment that does not import here is left out: its backend's
    checks then see no facts and say so."""
    out: list[tuple[str, str]] = []
    for backend in installed() if backends is None else backends:
        dotted = getattr(backend, "probe_fragment", None)
        if not dotted:
            continue
        try:
            key, source = _fragment_source(backend, dotted)
        except Exception:
            continue
        if key not in {k for k, _ in out}:
            out.append((key, source))
    return out


def launch_checks(backend: "Backend") -> list[Any]:
    """The checks of the backend's module that a multi-process launch must pass first (its
    LAUNCH_CHECKS ids: driver or CANN floors), judged from the launch's own probe."""
    module = checks_module(backend)
    wanted = tuple(getattr(module, "LAUNCH_CHECKS", ())) if module is not None else ()
    return [c for c in getattr(module, "CHECKS", []) if c.id in wanted]


def _fragment_source(backend: "Backend", dotted: str) -> tuple[str, str]:
    module_name, _, function = dotted.partition(":")
    module = _module(module_name)  # importing it here is cheap: a fragment module is stdlib only
    key = str(getattr(module, "FACTS_KEY", f"{backend.name}_facts"))
    if not function:
        return key, inspect.getsource(module)
    fn = getattr(module, function)
    # The function alone travels; its module's plain-data settings go with it as literals.
    settings = {name: getattr(module, name) for name in ("DISTS", "ENV_PREFIXES") if hasattr(module, name)}
    lines = [f"# {dotted}, as envkit's probe runs it in the target interpreter", f"FACTS_KEY = {key!r}"]
    lines += [f"{name} = {value!r}" for name, value in settings.items()]
    lines += ["", "", textwrap.dedent(inspect.getsource(fn))]
    if fn.__name__ != "probe":
        lines.append(f"probe = {fn.__name__}")
    return key, "\n".join(lines) + "\n"
