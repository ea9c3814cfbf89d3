"""The floor plan holds: no import cycles among our modules (imports made only for type checking
count too), the contract the API and the workers share loads no Celery, and `jobs` itself defines
nothing, yet `celery -A jobs worker` finds the app (docs/architecture.md, "The floor plan")."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("graph", "jobs")
TOP_MODULES = ("settings", "asgi")
# What the API and the workers share, and the CV-text kit: importable by either without Celery.
PURE_PACKAGES = ("jobs.core", "jobs.cv")


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    return {**found, **{name: ROOT / f"{name}.py" for name in TOP_MODULES}}


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules `path` imports, wherever the import stands (TYPE_CHECKING blocks included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                on_stack.discard(member)
                component.append(member)
            on_stack.discard(node)
            if component:
                found.append(sorted([node, *component]))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back():
    known = _modules()
    # A package's own __init__ is not an edge: importing a submodule always runs it.
    graph = {
        name: {d for d in _imports(path, known) if d != name and not name.startswith(f"{d}.")}
        for name, path in known.items()
    }
    assert _cycles(graph) == []


def test_the_contract_loads_no_celery():
    pure = sorted(name for name in _modules() if name.startswith(PURE_PACKAGES))
    assert "jobs.core.events" in pure and "jobs.cv.privacy" in pure
    program = (
        f"import importlib, json, sys\nfor m in {pure!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(m for m in ('celery', 'kombu') if m in sys.modules)))"
    )
    assert json.loads(_python(program)) == []


def test_jobs_defines_nothing_and_celery_finds_the_app():
    tree = ast.parse((ROOT / "jobs" / "__init__.py").read_text())
    assert all(isinstance(node, ast.Expr) for node in tree.body)  # its docstring alone
    program = (
        "import json\nfrom celery.app.utils import find_app\napp = find_app('jobs')\n"
        "app.loader.import_default_modules()\n"
        "print(json.dumps([app.main, sorted(n for n in app.tasks if n.startswith('jobs.'))]))"
    )
    main, tasks = json.loads(_python(program))
    assert main == "cvimprover"
    assert tasks == [
        "jobs.analyze_cv",
        "jobs.apply_retention",
        "jobs.export_data",
        "jobs.extract_resume",
        "jobs.improve_cv",
        "jobs.render_pdf",
    ]


def _python(program: str) -> str:
    """What a fresh interpreter prints running `program` from the checkout."""
    command = [sys.executable, "-c", program]
    ran = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return ran.stdout
