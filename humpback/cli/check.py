import json
from pathlib import Path

import click

from humpback.config import ParamsError, load_params


@click.command()
@click.argument("params_file", default="params.yaml", type=click.Path())
def check(params_file: str) -> None:
    """Validate PARAMS_FILE (default params.yaml) and the dvc.yaml beside it before a long run:
    every key and value, and every stage's dependencies on the modules its script imports."""
    from humpback.code import dependency_problems
    from humpback.corpus import python_version

    try:
        params = load_params(params_file)
    except ParamsError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"{params_file}: ok ({len(params.iterations)} iterations, "
               f"base model {params.base.model}, scoring mode {params.score.mode})")
    dvc_yaml = Path(params_file).with_name("dvc.yaml")
    if dvc_yaml.exists():
        problems = dependency_problems(dvc_yaml)
        if problems:
            raise click.ClickException(f"{dvc_yaml}: " + "; ".join(problems))
        click.echo(f"{dvc_yaml}: ok (each stage depends on exactly the modules it imports)")
    built = Path(params_file).with_name("metrics") / "corpus.json"
    if "pydoc" in params.corpus.sources and built.exists():
        recorded = json.loads(built.read_text()).get("python_version")
        if recorded and recorded != python_version():
            click.echo(f"warning: the corpus was built from the docs of Python {recorded}; this "
                       f"is Python {python_version()}, whose docs differ. DVC does not see the "
                       f"interpreter: `dvc repro -f corpus` rebuilds it from these docs (and "
                       f"re-runs what follows if they changed).", err=True)
