import click

from humpback.config import ParamsError, load_params


@click.command()
@click.argument("params_file", default="params.yaml", type=click.Path())
def check(params_file: str) -> None:
    """Validate PARAMS_FILE (default params.yaml) before a long run."""
    try:
        params = load_params(params_file)
    except ParamsError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"{params_file}: ok ({len(params.iterations)} iterations, "
               f"base model {params.base.model}, scoring mode {params.score.mode})")
