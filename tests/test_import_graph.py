"""No import circle inside the package: each module of mpforge/, with every import it
makes (at the top, in a function, or under TYPE_CHECKING, since an annotation's import
ties two modules as much as a call's), and the graph they form has no cycle."""

from __future__ import annotations

import ast

from conftest import ROOT

PACKAGE = ROOT / "mpforge"


def module_name(relative: str) -> str:
    """mpforge/board/policy.py -> mpforge.board.policy; mpforge/ui/__init__.py -> mpforge.ui."""
    parts = relative.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(relative: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of `known` that the module at `relative` imports, in any form."""
    package = relative.removesuffix(".py").split("/")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = [module, *(f"{module}.{a.name}" for a in node.names)]  # `from pkg import mod`
        else:
            continue
        found |= {name for name in names if name in known}
    return found - {module_name(relative)}


def graph(sources: dict[str, str]) -> dict[str, set[str]]:
    known = {module_name(relative) for relative in sources}
    return {module_name(relative): imported(relative, ast.parse(text), known)
            for relative, text in sources.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                other = stack.pop()
                group.append(other)
                if other == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def package_sources() -> dict[str, str]:
    return {path.relative_to(ROOT).as_posix(): path.read_text() for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_package_has_no_import_cycle():
    found = cycles(graph(package_sources()))
    assert found == [], ("modules that import each other, directly or round a circle (move what both "
                         "need into a module of its own, as mpforge/model/fingerprint.py): " + repr(found))


def test_a_cycle_is_seen_in_each_form_of_import():
    """The checker itself, on a made-up package: a circle closed by a TYPE_CHECKING import, one
    by a relative import inside a function, and one by `from package import module`."""
    sources = {
        "mpforge/a.py": "from mpforge import b\n",
        "mpforge/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mpforge.a import X\n",
        "mpforge/p/__init__.py": "",
        "mpforge/p/c.py": "def f():\n    from . import d\n",
        "mpforge/p/d.py": "import mpforge.p.c\n",
        "mpforge/e.py": "import mpforge.a\n",  # on the way in, not in a circle
    }
    assert cycles(graph(sources)) == [["mpforge.a", "mpforge.b"], ["mpforge.p.c", "mpforge.p.d"]]
    del sources["mpforge/b.py"]
    sources["mpforge/b.py"] = "import os\n"
    assert cycles(graph(sources)) == [["mpforge.p.c", "mpforge.p.d"]]
