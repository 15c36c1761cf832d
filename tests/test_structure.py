"""Structure, checked by reading the sources (ast), not by running them.

- No import circle among envkit's modules, counting imports under `if TYPE_CHECKING:` (a reader
  follows those too); imports inside functions are lazy by design and not counted.
- plan.py and resolve.py do no file I/O and look no backend up by name (setup's edge gathers
  files: envkit.plan_inputs; resolve asks the registry once).
- No branch on an accelerator's name outside backends/ (and the backends' doctor check modules):
  the modules below hold no such string at all, compat.py (the sourced matrix, whose data sections
  are named after them) holds no comparison with one.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PKG = SRC / "envkit"
# Accelerator names (backends, devices, vendors, their runtimes and collectives).
NAMES = {"cuda", "ascend", "npu", "cpu", "nvidia", "torch_npu", "torch-npu", "cann", "nccl", "hccl", "gloo"}
NO_ACCELERATOR_NAMES = ("hooks.py", "plan.py", "plan_inputs.py", "profiles.py", "resolve.py", "suggest.py",
                        "lock/manifest.py", "commands/detect.py", "commands/resolve.py", "fleet.py")
NO_ACCELERATOR_BRANCHES = NO_ACCELERATOR_NAMES + ("compat.py",)
PURE = ("plan.py", "resolve.py")
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


def _top_level_imports(path: Path) -> set[str]:
    """Imports run when the module is imported, plus those under TYPE_CHECKING (not in functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.ClassDef):
                visit(node.body)

    visit(tree.body)
    return {m for m in found if m == "envkit" or m.startswith("envkit.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for target in _top_level_imports(path):
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


def test_no_import_circle_counting_type_checking() -> None:
    assert _cycles(_graph()) == []


def test_the_checker_sees_a_type_checking_circle(tmp_path: Path) -> None:
    # the same reading on a made-up pair: a -> b at import, b -> a under TYPE_CHECKING
    graph = {"a": {"b"}, "b": {"a"}}
    assert _cycles(graph) == [["a", "b"]]
    base = _top_level_imports(PKG / "accel" / "base.py")
    assert "envkit.resolve" not in base and "envkit.plan" not in base


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
    assert [c for c in _calls(_tree("plan.py")) if c[1] == "get_backend"] == []
    assert len([c for c in _calls(_tree("resolve.py")) if c[1] == "get_backend"]) == 1  # once per resolve/setup


def _strings(tree: ast.Module) -> list[tuple[int, str]]:
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_no_accelerator_names_outside_backends() -> None:
    found = []
    for rel in NO_ACCELERATOR_NAMES:
        found += [(rel, line, text) for line, text in _strings(_tree(rel)) if text.lower() in NAMES]
    assert found == []


def test_no_branch_on_an_accelerator_name() -> None:
    found = []
    for rel in NO_ACCELERATOR_BRANCHES:
        for node in ast.walk(_tree(rel)):
            if isinstance(node, ast.Compare):
                for side in (node.left, *node.comparators):
                    if isinstance(side, ast.Constant) and isinstance(side.value, str) and side.value.lower() in NAMES:
                        found.append((rel, node.lineno, side.value))
            if isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue):
                value = node.pattern.value
                if isinstance(value, ast.Constant) and str(value.value).lower() in NAMES:
                    found.append((rel, node.pattern.lineno, value.value))
    assert found == []


def test_the_name_check_would_catch_the_old_hooks() -> None:
    old = 'if resolved.accelerator == "cuda":\n    env["CUDA_VISIBLE_DEVICES"] = v\n'
    tree = ast.parse(old)
    assert [t for _, t in _strings(tree) if t.lower() in NAMES] == ["cuda"]
