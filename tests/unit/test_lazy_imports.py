"""Every import in the package resolves, the ones inside functions included.

Commands import what they need inside their bodies so that start-up stays lean; importing a
module does not run those, so a moved or renamed module would fail only when a user runs the
command. Here each `import` and `from … import …` anywhere in a module's source is resolved
(module imported, name looked up) without running the function that holds it.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

PACKAGES = ("bilge", "bilge.store", "bilge.gc", "bilge.reports", "bilge.cron")


def _modules() -> list[tuple[str, Path, bool]]:
    """(name, source file, is a package) of every module under the package."""
    found = {}
    for top in PACKAGES:
        package = importlib.import_module(top)
        found[top] = (Path(package.__file__ or ""), True)
        for info in pkgutil.walk_packages(package.__path__, top + "."):
            spec = importlib.util.find_spec(info.name)
            assert spec is not None and spec.origin, info.name
            found[info.name] = (Path(spec.origin), info.ispkg)
    return sorted((name, path, ispkg) for name, (path, ispkg) in found.items())


def _imports(name: str, path: Path, ispkg: bool) -> list[tuple[int, str, str | None]]:
    """(line, module, name or None) for every import statement in the file."""
    package = name if ispkg else name.rpartition(".")[0]
    out: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = (
                importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                if node.level
                else node.module
            )
            assert base is not None
            out += [(node.lineno, base, alias.name) for alias in node.names]
    return out


MODULES = _modules()


def test_the_walk_finds_every_room() -> None:
    names = {name for name, _, _ in MODULES}
    assert {"bilge.cli", "bilge.store.core", "bilge.store.containers.lifecycle", "bilge.gc.sweep"} <= names
    assert len(names) > 60


@pytest.mark.parametrize(("name", "path", "ispkg"), MODULES, ids=[m[0] for m in MODULES])
def test_every_import_resolves(name: str, path: Path, ispkg: bool) -> None:
    if not name.endswith(".__main__"):  # running it is what `python -m bilge` does
        importlib.import_module(name)
    broken = []
    for line, module, attr in _imports(name, path, ispkg):
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:
            broken.append(f"{path.name}:{line}: import {module}: {exc}")
            continue
        if attr is None or attr == "*" or hasattr(imported, attr):
            continue
        try:
            importlib.import_module(f"{module}.{attr}")
        except ImportError:
            broken.append(f"{path.name}:{line}: {module} has no {attr}")
    assert not broken, "\n".join(broken)


def test_a_broken_lazy_import_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: a function-level import of a module that moved."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from bilge.store import lifecycle\n")
    [(line, module, attr)] = _imports("bilge.store.mod", source, False)
    assert (line, module, attr) == (2, "bilge.store", "lifecycle")
    assert not hasattr(importlib.import_module(module), "lifecycle")
    with pytest.raises(ImportError):
        importlib.import_module("bilge.store.lifecycle")
