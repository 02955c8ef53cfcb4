"""The import rules of docs/architecture.md, read from the source with ``ast`` (the modules are not imported for them).

- No import cycles between the project's modules (imports made when a module is loaded; imports inside
  ``if TYPE_CHECKING:`` are not made at run time and do not count).
- ``registry`` and ``portfolio`` never import ``web``; ``portfolio`` never imports ``registry``, Flask,
  SQLAlchemy or SQLModel.
- An import inside a function is the exception: each one says why with a ``# lazy: ...`` comment (kept out of
  start-up, e.g. of ``utfall --help``) or ``# optional: ...`` (an optional dependency), on its line, on the line
  above, or above the group of imports it opens.

And the ``utfall`` command's one list: every command the ``web.cli`` modules define is registered in
``web.cli.COMMANDS``.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

import web.cli

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("registry", "portfolio", "web")
SKIPPED = ("registry/migrations/versions",)  # Alembic revisions, loaded by Alembic only
REASON = re.compile(r"#\s*(lazy|optional)\b", re.IGNORECASE)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "registry": ("web",),
    "portfolio": ("web", "registry", "flask", "sqlalchemy", "sqlmodel"),
}


@dataclass(frozen=True)
class Import:
    """One imported name as the importing module sees it: the module it loads, where, and how."""

    importer: str
    target: str  # a project module ("registry.terms") or a library's top-level name ("pandas")
    line: int
    in_function: bool
    type_checking_only: bool
    reason_given: bool


def module_names(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``packages`` under ``root``."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if any(relative.as_posix().startswith(skipped) for skipped in SKIPPED):
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool,
             modules: dict[str, Path]) -> Iterator[str]:
    """The modules an import statement loads (``from package import submodule`` loads the submodule)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield _project_or_top(alias.name, modules)
        return
    base = node.module or ""
    if node.level:
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in modules else _project_or_top(base, modules)


def _project_or_top(name: str, modules: dict[str, Path]) -> str:
    if name in modules or name.split(".")[0] in {m.split(".")[0] for m in modules}:
        while name not in modules and "." in name:
            name = name.rpartition(".")[0]
        return name
    return name.split(".")[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _has_reason(lines: list[str], first_line: int, last_line: int) -> bool:
    """A ``# lazy``/``# optional`` comment on the statement's lines or in the comment block right above it."""
    if any(REASON.search(lines[n - 1]) for n in range(first_line, last_line + 1)):
        return True
    n = first_line - 1
    while n >= 1 and lines[n - 1].strip().startswith("#"):
        if REASON.search(lines[n - 1]):
            return True
        n -= 1
    return False


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import in one module, each marked as inside a function or not, and whether its reason is given."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(body: list[ast.stmt], in_function: bool, type_checking: bool) -> None:
        group_reason = False  # a comment above the first of consecutive imports covers the group
        previous_was_import = False
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                end = node.end_lineno or node.lineno
                own_reason = _has_reason(lines, node.lineno, end)
                group_reason = own_reason or (group_reason and previous_was_import)
                found.extend(Import(module, target, node.lineno, in_function, type_checking, group_reason)
                             for target in _targets(node, module, is_package, modules))
                previous_was_import = True
                continue
            previous_was_import = False
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(node.body, True, type_checking)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.body, in_function, True)
                visit(node.orelse, in_function, type_checking)
            else:  # class bodies, with, try, loops, if, match: their statements run where they stand
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []), in_function, type_checking)
                for handler in [*getattr(node, "handlers", []), *getattr(node, "cases", [])]:
                    visit(handler.body, in_function, type_checking)

    visit(ast.parse(source, filename=str(path)).body, False, False)
    return found


def all_imports(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> tuple[dict[str, Path], list[Import]]:
    modules = module_names(root, packages)
    return modules, [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def import_cycles(modules: dict[str, Path], imports: list[Import]) -> list[list[str]]:
    """Each group of modules that import one another when loaded (strongly connected components, Tarjan)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in imports:
        if not imp.in_function and not imp.type_checking_only and imp.target in modules:
            graph[imp.importer].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            connect(name)
    return cycles


def forbidden_imports(imports: list[Import]) -> list[str]:
    """Imports against the layering (inside functions too, and for type checking too)."""
    return sorted(
        f"{imp.importer} (line {imp.line}) imports {imp.target}"
        for imp in imports
        for banned in FORBIDDEN.get(imp.importer.split(".")[0], ())
        if imp.target == banned or imp.target.startswith(f"{banned}.") or imp.target.startswith(f"{banned}_")
    )


def unexplained_function_imports(imports: list[Import]) -> list[str]:
    return sorted({f"{imp.importer} (line {imp.line}) imports {imp.target} inside a function"
                   for imp in imports if imp.in_function and not imp.reason_given})


# --- the project -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project() -> tuple[dict[str, Path], list[Import]]:
    return all_imports()


def test_no_import_cycles(project: tuple[dict[str, Path], list[Import]]) -> None:
    modules, imports = project
    assert import_cycles(modules, imports) == []


def test_layers_point_one_way(project: tuple[dict[str, Path], list[Import]]) -> None:
    _, imports = project
    assert forbidden_imports(imports) == []


def test_imports_inside_functions_say_why(project: tuple[dict[str, Path], list[Import]]) -> None:
    _, imports = project
    assert unexplained_function_imports(imports) == []


def test_the_project_is_read(project: tuple[dict[str, Path], list[Import]]) -> None:
    """The checks above see the real modules and their imports (an empty graph would pass them all)."""
    modules, imports = project
    assert {"web", "web.cli", "web.jobs", "registry.terms", "portfolio.engine"} <= set(modules)
    assert Import("web.cli", "web.cli.jobs", _line_of(modules["web.cli"], "from web.cli.jobs import"), False,
                  False, False) in imports


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(text))


# --- the checks find what they look for ------------------------------------------------------------------------


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_cycle_through_a_package_and_a_relative_import_is_found(tmp_path: Path) -> None:
    write_package(tmp_path, {
        "web/__init__.py": "from web import jobs\n",
        "web/jobs.py": "from .cli import commands\n",
        "web/cli/__init__.py": "",
        "web/cli/commands.py": "import web\n",
        "web/pages.py": "from web import jobs\n",
    })
    assert import_cycles(*all_imports(tmp_path, ("web",))) == [["web", "web.cli.commands", "web.jobs"]]


def test_function_and_type_checking_imports_make_no_cycle(tmp_path: Path) -> None:
    write_package(tmp_path, {
        "web/__init__.py": "def create_app():\n    from web import pages  # lazy: blueprints\n",
        "web/pages.py": "from typing import TYPE_CHECKING\nimport web\nif TYPE_CHECKING:\n    import web.jobs\n",
        "web/jobs.py": "import web.pages\n",
    })
    assert import_cycles(*all_imports(tmp_path, ("web",))) == []


def test_layering_and_unexplained_imports_are_found(tmp_path: Path) -> None:
    write_package(tmp_path, {
        "registry/__init__.py": "",
        "registry/db.py": "def f():\n    from web.jobs import run_job  # lazy: for the test\n",
        "portfolio/__init__.py": "import typing\nif typing.TYPE_CHECKING:\n    from sqlmodel import Session\n",
        "portfolio/engine.py": ("def f():\n    # lazy: the group below\n    import numpy\n    import scipy\n\n"
                                "    x = 1\n    import pandas\n\n"
                                "def g():\n    import flask_babel  # optional: a test\n"),
        "web/__init__.py": "",
        "web/jobs.py": "def run_job():\n    import os\n",
    })
    _, imports = all_imports(tmp_path, ("registry", "portfolio", "web"))
    assert forbidden_imports(imports) == [
        "portfolio (line 3) imports sqlmodel",
        "portfolio.engine (line 10) imports flask_babel",
        "registry.db (line 2) imports web.jobs",
    ]
    assert unexplained_function_imports(imports) == [
        "portfolio.engine (line 7) imports pandas inside a function",
        "web.jobs (line 2) imports os inside a function",
    ]


def test_every_command_is_registered_in_the_one_list() -> None:
    """Each top-level command of the ``web.cli`` modules is in ``web.cli.COMMANDS``, the group's one list, and
    the group holds nothing else (subcommands belong to their group, e.g. ``contracts list``)."""
    subcommands = set()
    defined = []
    for info in pkgutil.iter_modules(web.cli.__path__, "web.cli."):
        module = importlib.import_module(info.name)
        commands = [value for value in vars(module).values()
                    if isinstance(value, click.Command) and value.callback is not None
                    and value.callback.__module__ == info.name]
        defined.extend(commands)
        for command in commands:
            if isinstance(command, click.Group):
                subcommands.update(command.commands.values())
    top_level = {command for command in defined if command not in subcommands}
    assert len(top_level) >= 17
    assert top_level == set(web.cli.COMMANDS)
    assert list(web.cli.main.commands.values()) == list(web.cli.COMMANDS)
