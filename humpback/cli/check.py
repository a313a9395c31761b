import json
from pathlib import Path

import click

import yaml

from humpback.config import ParamsError, load_params, moved_keys
from humpback.errors import HumpbackError


@click.command()
@click.argument("params_file", default="params.yaml", type=click.Path())
@click.option("--fix", is_flag=True, help="First write each stage's module deps into the "
              "dvc.yaml beside PARAMS_FILE (the modules its script imports), keeping its "
              "comments and order.")
def check(params_file: str, fix: bool) -> None:
    """Validate PARAMS_FILE (default params.yaml) and the dvc.yaml beside it before a long run:
    every key and value, and every stage's dependencies on the modules its script imports."""
    from humpback.corpus import python_version
    from humpback.stage_deps import dependency_problems, fix_dependencies

    moved = _moved(params_file)
    if moved:  # an older params file: say where each key lives now, one line each
        for line in moved:
            click.echo(f"{params_file}: {line}", err=True)
        raise click.ClickException(f"{params_file}: written for an older humpback, "
                                   f"{len(moved)} moved key(s) listed above")
    dvc_yaml = Path(params_file).with_name("dvc.yaml")
    if fix:
        if not dvc_yaml.exists():
            raise click.ClickException(f"{dvc_yaml}: not found: nothing to fix")
        try:
            changes = fix_dependencies(dvc_yaml)
        except HumpbackError as err:
            raise click.ClickException(str(err)) from None
        for change in changes:
            click.echo(f"{dvc_yaml}: {change}")
        click.echo(f"{dvc_yaml}: {len(changes)} module deps changed")
    try:
        params = load_params(params_file)
    except ParamsError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"{params_file}: ok ({len(params.iterations)} iterations, "
               f"base model {params.base.model}, scoring mode {params.score.mode})")
    if dvc_yaml.exists():
        problems = dependency_problems(dvc_yaml)
        if problems:
            raise click.ClickException(f"{dvc_yaml}: " + "; ".join(problems)
                                       + " (`humpback check --fix` writes them)")
        click.echo(f"{dvc_yaml}: ok (each stage depends on exactly the modules it imports)")
    built = Path(params_file).with_name("metrics") / "corpus.json"
    if "pydoc" in params.corpus.sources and built.exists():
        recorded = json.loads(built.read_text()).get("python_version")
        if recorded and recorded != python_version():
            click.echo(f"warning: the corpus was built from the docs of Python {recorded}; this "
                       f"is Python {python_version()}, whose docs differ. DVC does not see the "
                       f"interpreter: `dvc repro -f corpus` rebuilds it from these docs (and "
                       f"re-runs what follows if they changed).", err=True)


def _moved(params_file: str) -> list[str]:
    try:
        return moved_keys(yaml.safe_load(Path(params_file).read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError):
        return []  # load_params says what is wrong with the file
