"""Structure, checked by reading the sources (ast), not by running them.

- No import circle among envkit's modules, nor among its packages, counting every import: those under `if TYPE_CHECKING:`
  (a reader follows those too) and those inside functions (they are edges all the same).
- setup/plan.py and resolve.py do no file I/O and look no backend up by name (setup's edge gathers
  files: envkit.setup.inputs; resolve asks the registry once).
- An accelerator's knowledge lives in its folder, src/envkit/accel/<name>/: no module outside
  src/envkit/accel/ holds a string that names one (docstrings and comments may), so nothing else
  can branch on one. "cpu" is not counted: it is torch's host device and the CPU build's local label,
  which every accelerator's torch choice uses, not only the CPU backend's.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PKG = SRC / "envkit"
# Accelerator names: backends, devices, vendors, their libraries, runtimes and collectives.
NAMES = {"cuda", "ascend", "npu", "nvidia", "nvml", "pynvml", "torch_npu", "torch-npu", "cann", "nccl", "hccl", "gloo",
         "rocm", "hip", "rccl", "amd", "amdgpu"}
ACCEL = PKG / "accel"
PURE = ("setup/plan.py", "resolve.py")
IO_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "glob", "rglob", "iterdir", "exists", "is_file",
            "is_dir", "stat", "lstat", "mkdir", "unlink", "rmdir", "listdir", "scandir", "walk", "read_lock", "file_sha256",
            "read_pyproject", "read_project", "load_host_file", "atomic_write"}
IO_MODULES = {"os", "shutil", "subprocess", "glob", "tempfile", "io"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _tree(rel: str) -> ast.Module:
    return ast.parse((PKG / rel).read_text(encoding="utf-8"))


def _imports(path: Path) -> set[str]:
    """Every envkit module `path` imports: at import time, under TYPE_CHECKING and inside functions."""
    return _imports_of(path, _module_name(path))


def _imports_of(path: Path, me: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
    return {m for m in found if m == "envkit" or m.startswith("envkit.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for target in _imports(path):
            while target and target not in modules:  # `from pkg import function` names the module pkg
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_circle_counting_every_import() -> None:
    assert _cycles(_graph()) == []


def _package(module: str) -> str:
    """A module's package node: envkit.<first part>; each envkit.accel.<part> (registry, base, an
    accelerator's folder) is its own node, apart from the finder envkit.accel (bench/import_graph.py
    uses the same rule)."""
    parts = module.split(".")
    return ".".join(parts[:3] if len(parts) > 2 and parts[1] == "accel" else parts[:2])


def _package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for importer, targets in graph.items():
        for target in targets:
            a, b = _package(importer), _package(target)
            if a != b:
                packages.setdefault(a, set()).add(b)
    return packages


def test_no_import_circle_between_packages() -> None:
    # the doctor sits above launch, setup above the doctor; what both read of the target interpreter
    # lives below them (envkit.targetenv), the typed setup record in the core (envkit.setup_choices)
    assert _cycles(_package_graph(_graph())) == []


def test_the_package_check_would_catch_a_circle_through_submodules() -> None:
    graph = {"envkit.doctor.checks.x": {"envkit.launch.plan"}, "envkit.launch.prepare": {"envkit.doctor.accel"},
             "envkit.accel.cuda.checks": {"envkit.accel.registry"}, "envkit.accel.registry": {"envkit.accel"}}
    assert _cycles(_package_graph(graph)) == [["envkit.doctor", "envkit.launch"]]
    assert _package("envkit.accel") == "envkit.accel" and _package("envkit.accel.cuda.arch") == "envkit.accel.cuda"


def test_no_circle_through_the_accelerators_or_the_core() -> None:
    core = ("envkit.accel", "envkit.compat", "envkit.host", "envkit.hostfacts", "envkit.profiles", "envkit.suggest",
            "envkit.resolve", "envkit.setup.plan", "envkit.matrixcheck", "envkit.record", "envkit.launch")
    assert [c for c in _cycles(_graph()) if any(m.startswith(core) for m in c)] == []


def test_the_checker_sees_type_checking_and_function_level_imports(tmp_path: Path) -> None:
    # the same reading on a made-up pair: a -> b at import, b -> a under TYPE_CHECKING
    graph = {"a": {"b"}, "b": {"a"}}
    assert _cycles(graph) == [["a", "b"]]
    source = tmp_path / "envkit" / "m.py"
    source.parent.mkdir()
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from envkit import x\n"
                      "def f():\n    from envkit.y import z\n")
    assert {"envkit.x", "envkit.y", "envkit.y.z"} <= _imports_of(source, "envkit.m")
    base = _imports(PKG / "accel" / "base.py")
    assert "envkit.resolve" not in base and "envkit.setup.plan" not in base and "envkit.profiles" not in base


def _calls(tree: ast.Module) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name:
                out.append((node.lineno, name))
    return out


def test_plan_and_resolve_do_no_file_io_and_no_lookups() -> None:
    for rel in PURE:
        tree = _tree(rel)
        io = [(line, name) for line, name in _calls(tree) if name in IO_CALLS]
        assert io == [], f"{rel} does file I/O: {io}"
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
        assert not imported & IO_MODULES, f"{rel} imports {imported & IO_MODULES}"
    assert [c for c in _calls(_tree("setup/plan.py")) if c[1] == "get_backend"] == []
    assert len([c for c in _calls(_tree("resolve.py")) if c[1] == "get_backend"]) == 1  # once per resolve/setup


def _strings(tree: ast.Module) -> list[tuple[int, str]]:
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def _outside_accel() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if ACCEL not in p.parents)


def _named(tree: ast.Module) -> list[tuple[int, str]]:
    """String constants that name an accelerator (docstrings aside): in comparisons, `case` patterns,
    tables and calls alike, so no branch and no lookup by an accelerator's name is left."""
    return [(line, text) for line, text in _strings(tree) if text.lower() in NAMES]


def test_no_accelerator_names_outside_accel() -> None:
    found = [(str(p.relative_to(PKG)), line, text) for p in _outside_accel()
             for line, text in _named(ast.parse(p.read_text(encoding="utf-8")))]
    assert found == []


def test_the_name_check_reads_every_module_outside_accel() -> None:
    modules = _outside_accel()
    assert PKG / "host.py" in modules and PKG / "compat.py" in modules and PKG / "targetenv" / "probe.py" in modules
    assert not any(ACCEL in p.parents for p in modules) and (ACCEL / "base.py").is_file()
    assert len(modules) == len(list(PKG.rglob("*.py"))) - len(list(ACCEL.rglob("*.py")))


def test_no_accelerator_module_imported_outside_accel_but_the_registry() -> None:
    """Generic code reaches an accelerator through envkit.accel (finding), envkit.accel.registry (loading)
    and envkit.accel.base (the Protocol): never one accelerator's folder."""
    allowed = {"envkit.accel", "envkit.accel.registry", "envkit.accel.base"}
    found = [(str(p.relative_to(PKG)), m) for p in _outside_accel() for m in _imports(p)
             if m.startswith("envkit.accel") and not any(m == a or m.startswith(a + ".") for a in allowed)]
    assert found == []


def test_the_name_check_would_catch_the_old_hooks() -> None:
    old = 'if resolved.accelerator == "cuda":\n    env["CUDA_VISIBLE_DEVICES"] = v\n'
    assert [t for _, t in _named(ast.parse(old))] == ["cuda"]
    old_probe = 'kind = "ROCm" if getattr(torch.version, "hip", None) else "CPU"\nmatch d:\n    case "npu": pass\n'
    assert sorted(t for _, t in _named(ast.parse(old_probe))) == ["ROCm", "hip", "npu"]
    assert _named(ast.parse('"""Reads NVIDIA GPUs."""\n# cuda\nx = "CUDA_VISIBLE_DEVICES"\n')) == []
