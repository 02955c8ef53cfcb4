"""No function of registry/, portfolio/ or web/ is longer than 80 lines, read from the source with ``ast``.

A function is counted from its first statement after the docstring to its last line, so documentation costs
nothing; nested functions count within their parent and again on their own. Alembic revisions are left out
(a migration is a schema written down, not logic to split).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.test_architecture import PACKAGES, ROOT, module_names

LIMIT = 80


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the function's first statement after its docstring to its end."""
    body = node.body
    has_docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and isinstance(body[0].value.value, str)
    first = body[1] if has_docstring and len(body) > 1 else body[0]
    return (node.end_lineno or first.lineno) - first.lineno + 1


def long_functions(root: Path, packages: tuple[str, ...], limit: int = LIMIT) -> Iterator[str]:
    """``path:line name (n lines)`` for every function of ``packages`` longer than ``limit`` lines."""
    for path in module_names(root, packages).values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and body_lines(node) > limit:
                yield f"{path.relative_to(root).as_posix()}:{node.lineno} {node.name} ({body_lines(node)} lines)"


def test_no_function_is_longer_than_80_lines() -> None:
    assert list(long_functions(ROOT, PACKAGES)) == []


def test_a_long_function_is_found_and_its_docstring_is_not_counted(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    docstring = '    """' + "\n".join(["Documented at length."] * 20) + '"""\n'
    short = "def short():\n" + docstring + "".join(f"    x{i} = {i}\n" for i in range(LIMIT))
    long = "class C:\n    def long(self):\n" + "".join(f"        x{i} = {i}\n" for i in range(LIMIT + 1))
    (package / "mod.py").write_text(short + "\n\n" + long)
    found = list(long_functions(tmp_path, ("pkg",)))
    assert len(found) == 1 and found[0].startswith("pkg/mod.py:") and "long (81 lines)" in found[0]
