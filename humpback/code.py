"""The library code each stage runs: the modules its entry point imports, read from the source.

A stage's result depends on the code it runs, so `dvc.yaml` lists those modules as the stage's
dependencies (stage_deps.py checks and writes them) and `resume.py` keys finished work by them.
Both come from here: the closure of the entry point's imports of `humpback`, followed through
every module it reaches (imports inside functions too, and each package's `__init__.py`). The
source is parsed, never imported.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "humpback"


def stage_modules(entry_point: str | Path, root: str | Path = ".") -> list[str]:
    """The package files (paths relative to `root`, sorted) that `entry_point` imports,
    directly or through other package modules."""
    root = Path(root)
    seen: set[Path] = set()
    pending = [Path(entry_point)]
    while pending:
        source = pending.pop()
        for module in _imported_modules(source, root):
            for file in _module_files(module, root):
                if file not in seen:
                    seen.add(file)
                    pending.append(file)
    return sorted(file.relative_to(root).as_posix() for file in seen)


def _imported_modules(source: Path, root: Path) -> set[str]:
    """Dotted names of the package modules `source` imports (absolute or relative imports)."""
    tree = ast.parse(source.read_bytes(), filename=str(source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, source, root)
            if base:
                names.add(base)
                # `from humpback import corpus` imports the module humpback.corpus
                names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if name == PACKAGE or name.startswith(PACKAGE + ".")}


def _absolute(node: ast.ImportFrom, source: Path, root: Path) -> str | None:
    if not node.level:
        return node.module
    try:  # a relative import inside the package
        parts = list(source.resolve().relative_to(root.resolve()).with_suffix("").parts)
    except ValueError:
        return None
    package = parts[: len(parts) - node.level]  # level 1: the module's own package
    return ".".join(package + ([node.module] if node.module else []))


def _module_files(name: str, root: Path) -> list[Path]:
    """The files executed when `name` is imported: each package's __init__.py on the way, then
    the module itself. Names that are not modules (a function imported by name) give the
    packages only."""
    parts, files = name.split("."), []
    for depth in range(1, len(parts) + 1):
        path = root.joinpath(*parts[:depth])
        if (path / "__init__.py").is_file():
            files.append(path / "__init__.py")
        elif path.with_suffix(".py").is_file():
            files.append(path.with_suffix(".py"))
            break
        else:
            break
    return files


@cache
def code_fingerprint(entry_point: str, root: str = ".") -> str:
    """A hash of the entry point and every package module it imports: finished work kept for a
    stage stays valid when code the stage does not run changes."""
    digest = hashlib.sha256(Path(entry_point).read_bytes())
    for module in stage_modules(entry_point, root):
        digest.update(f"\n{module}\n".encode())
        digest.update(Path(root, module).read_bytes())
    return digest.hexdigest()

