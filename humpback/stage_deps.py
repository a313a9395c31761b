"""dvc.yaml's module dependencies: each stage that runs a script lists exactly the package
modules the script imports (code.py reads them from the source), checked by `humpback check`
and written by `humpback check --fix`.

The fix edits dvc.yaml's text, not a YAML round trip, so that its comments, its order and its
layout stay as they were: in each stage's `deps:` the module entries are replaced, where the
first of them stood (after the script when there was none), by the modules the script imports,
sorted; every other line is left alone. Only the CLI imports this module, so no stage's result
depends on it.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from humpback.code import PACKAGE, stage_modules
from humpback.errors import HumpbackError


class DepsError(HumpbackError):
    """A dvc.yaml whose module deps cannot be written; the message names the file and line."""


def dependency_problems(dvc_yaml: str | Path = "dvc.yaml") -> list[str]:
    """For each stage of dvc.yaml whose command runs a script, the package modules its `deps:`
    leave out or list needlessly; empty when every stage lists exactly what it imports."""
    dvc_yaml = Path(dvc_yaml)
    root = dvc_yaml.parent
    stages = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")).get("stages", {})
    problems = []
    for name, definition in stages.items():
        definition = definition.get("do", definition)
        script = _script(definition.get("cmd"))
        if script is None:
            continue
        listed = {d for d in definition.get("deps") or [] if isinstance(d, str)}
        if script not in listed:
            problems.append(f"{name}: its script {script} is not among its deps")
        wanted = set(stage_modules(root / script, root))
        declared = {d for d in listed if _is_module(d)}
        problems += [f"{name}: missing dependency {path} (imported by {script})"
                     for path in sorted(wanted - declared)]
        problems += [f"{name}: superfluous dependency {path} ({script} does not import it)"
                     for path in sorted(declared - wanted)]
    return problems


def fix_dependencies(dvc_yaml: str | Path = "dvc.yaml") -> list[str]:
    """Write every script stage's module deps into dvc.yaml (and the script itself, if it is
    missing); return what changed, one line per module added or removed."""
    dvc_yaml = Path(dvc_yaml)
    root = dvc_yaml.parent
    with dvc_yaml.open(encoding="utf-8", newline="") as handle:
        text = handle.read()
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    edits, changes = [], []  # edits: (first line, last line + 1, new lines)
    for name, deps, script in _script_stages(yaml.compose(text), dvc_yaml):
        items = [(item.value if isinstance(item, yaml.ScalarNode) else None,
                  item.start_mark.line) for item in deps.value]
        if not items:
            raise DepsError(f"{dvc_yaml}:{deps.start_mark.line + 1}: stage {name} has an empty "
                            f"deps list; list its script there first")
        modules = [(value, line) for value, line in items if value and _is_module(value)]
        for value, line in modules:
            if not re.fullmatch(rf"[ \t]*- {re.escape(value)}[ \t]*(#.*)?",
                                lines[line].rstrip("\r\n")):
                raise DepsError(f"{dvc_yaml}:{line + 1}: write stage {name}'s dependency "
                                f"{value} as a plain `- {value}` line to let --fix rewrite it")
        prefix = re.match(r"[ \t]*", lines[items[0][1]]).group(0)
        kept = {value: lines[line].rstrip("\r\n") + newline for value, line in modules}
        wanted = stage_modules(root / script, root)
        block = [kept.get(module, f"{prefix}- {module}{newline}") for module in wanted]
        changes += [f"{name}: added {m}" for m in wanted if m not in kept]
        changes += [f"{name}: removed {m}" for m in kept if m not in wanted]
        if script not in (value for value, _ in items):
            block.insert(0, f"{prefix}- {script}{newline}")
            changes.append(f"{name}: added {script}")
        if modules:
            first, last = modules[0][1], modules[-1][1]
            module_lines = {line for _, line in modules}
            # lines among the module entries (other deps, comments) stay, after the modules
            edits.append((first, last + 1, block + [lines[n] for n in range(first, last + 1)
                                                    if n not in module_lines]))
        else:
            at = next((line + 1 for value, line in items if value == script), items[0][1])
            edits.append((at, at, block))
    for first, end, new in sorted(edits, reverse=True):
        lines[first:end] = new
    fixed = "".join(lines)
    if fixed != text:
        with dvc_yaml.open("w", encoding="utf-8", newline="") as handle:
            handle.write(fixed)
    return changes


def _script_stages(document, dvc_yaml: Path):
    """(stage name, its deps sequence node, its script) for every stage that runs a script."""
    stages = _get(document, "stages")
    if stages is None:
        return
    for key, stage in stages.value:
        definition = _get(stage, "do") or stage
        cmd = _get(definition, "cmd")
        script = _script(cmd.value if isinstance(cmd, yaml.ScalarNode) else None)
        if script is None:
            continue
        deps = _get(definition, "deps")
        if not isinstance(deps, yaml.SequenceNode) or deps.flow_style:
            line = (deps or definition).start_mark.line + 1
            raise DepsError(f"{dvc_yaml}:{line}: stage {key.value} needs its deps as a block "
                            f"list (`- path` lines) to let --fix write its modules")
        yield key.value, deps, script


def _get(node, name: str):
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == name:
                return value
    return None


def _script(cmd) -> str | None:
    scripts = [word for word in str(cmd or "").split() if word.endswith(".py")]
    return scripts[0] if scripts else None


def _is_module(dep: str) -> bool:
    return dep == PACKAGE or dep.startswith(PACKAGE + "/")
