"""envkit's import graph read by AST, function-level imports included: counts and cycles.

Prints the number of imports inside function bodies (all, and envkit-internal), the module
edges that exist only through them, and the cycles of the graph over ALL imports, between
modules and between packages (envkit.<first part>; each envkit.accel.<part> its own). `TYPE_CHECKING` blocks are left out: they
never run. Usage:
    python bench/import_graph.py [--src src] [--list] [--only PATH_PREFIX ...]
--list prints every function-level import (file:line module); --only restricts the counts
(and --list) to files under the given paths, e.g. src/envkit/commands.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# The structure test is the authority on cycles and package nodes; the bench counts with its rules.
from tests.test_structure import _cycles as cycles  # noqa: E402
from tests.test_structure import _package as package_of  # noqa: E402


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    importer: str  # dotted module name of the file
    target: str  # dotted module imported (for `from pkg import mod`, pkg.mod where that is a module)
    in_function: bool


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, src: Path, modules: set[str]) -> list[Import]:
    importer = module_name(path, src)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, in_function)
                continue
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(path, child.lineno, importer, alias.name, inside))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base_name = ".".join(base + ([child.module] if child.module else []))
                else:
                    base_name = child.module or ""
                for alias in child.names:
                    sub = f"{base_name}.{alias.name}"
                    found.append(Import(path, child.lineno, importer, sub if sub in modules else base_name, inside))
            visit(child, inside)

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=REPO / "src")
    parser.add_argument("--list", action="store_true", help="print every function-level import")
    parser.add_argument("--only", nargs="*", default=[], help="count only files under these paths")
    args = parser.parse_args()
    src = args.src.resolve()
    files = sorted(src.rglob("*.py"))
    modules = {module_name(p, src) for p in files}
    everything = [imp for p in files for imp in imports_of(p, src, modules)]
    only = [Path(o).resolve() for o in args.only]
    counted = [i for i in everything if not only or any(i.path.is_relative_to(o) for o in only)]

    def internal(i: Import) -> bool:
        return i.target == "envkit" or i.target.startswith("envkit.")

    # counted per statement (`from a import b, c` is one), as ruff's PLC0415 reports them
    in_func = list({(i.path, i.line): i for i in counted if i.in_function}.values())
    print(f"function-level import statements: {len(in_func)} ({sum(map(internal, in_func))} envkit-internal)"
          + (f" in the {len(args.only)} paths given" if only else ""))
    if args.list:
        for i in in_func:
            print(f"  {i.path.relative_to(REPO) if i.path.is_relative_to(REPO) else i.path}:{i.line} {i.target}")

    # the graph of envkit modules over all imports (a package import counts as its __init__)
    edges: dict[tuple[str, str], bool] = {}  # (importer, target) -> only through function-level imports
    for i in everything:
        if internal(i) and i.target in modules and i.target != i.importer:
            key = (i.importer, i.target)
            edges[key] = edges.get(key, True) and i.in_function
    print(f"internal module edges: {len(edges)}, of which only function-level: {sum(edges.values())}")
    graph: dict[str, set[str]] = defaultdict(set)
    packages: dict[str, set[str]] = defaultdict(set)
    for importer, target in edges:
        graph[importer].add(target)
        a, b = package_of(importer), package_of(target)
        if a != b:
            packages[a].add(b)
    module_cycles = cycles(graph)
    package_cycles = cycles(packages)
    print(f"module cycles (all imports): {len(module_cycles)}", flush=True)
    for comp in module_cycles:
        print("  {" + ", ".join(comp) + "}")
    print(f"package cycles (all imports, packages = envkit.<first part>, envkit.accel.<part>): {len(package_cycles)}")
    for comp in package_cycles:
        print("  {" + ", ".join(c.removeprefix("envkit.") for c in comp) + "}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
