"""The docs stay true to the tree: every relative link resolves, and every file, test, stage,
params key and `humpback` command they name exists."""

import re

import pytest
import yaml

from conftest import ROOT
from humpback.cli import main

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in target:
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_named_project_files_exist(page):
    text = page.read_text()
    for path in set(re.findall(r"`((?:tests|stages|humpback|benchmarks|prompts|configs|docs)/"
                               r"[\w./-]+\.(?:py|txt|md|yaml|json|sbatch))`", text)):
        assert (ROOT / path).exists(), f"{page.name} names {path}, which does not exist"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_humpback_commands_exist(page):
    commands = set(main.commands)
    text = page.read_text()
    blocks = "\n".join(re.findall(r"(?s)```.*?```", text))
    named = (re.findall(r"(?m)^\s*(?:\$\s*)?humpback ([a-z][a-z-]+)", blocks)
             + re.findall(r"`humpback ([a-z][a-z-]+)", text))
    for command in named:
        assert command in commands, f"{page.name}: `humpback {command}` is not a command"


def test_params_sections_named_in_the_configuration_page_exist():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    text = (ROOT / "docs/configuration.md").read_text()
    for section, key in re.findall(r"`([a-z_]+)\.([a-z_]+)`", text):
        if section in params and isinstance(params[section], dict):
            assert key in params[section], f"docs/configuration.md names {section}.{key}"
