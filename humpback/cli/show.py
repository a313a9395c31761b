import textwrap

import click

from humpback.records import RecordError, read_jsonl


@click.command()
@click.argument("iteration", type=int)
@click.option("-n", "--count", default=5, show_default=True, help="How many pairs to show.")
@click.option("--width", default=300, show_default=True, help="Characters of output to show.")
def show(iteration: int, count: int, width: int) -> None:
    """Show the best curated pairs of ITERATION (data/curated/ITERATION.jsonl), with scores."""
    path = f"data/curated/{iteration}.jsonl"
    try:
        pairs = list(read_jsonl(path))
    except RecordError as err:
        raise click.ClickException(f"{err} (run `dvc repro` first)") from None
    click.echo(f"{path}: {len(pairs)} curated pairs")
    for pair in pairs[:count]:
        click.echo(f"\nscore {pair['score']}  {pair['id']}")
        click.echo(f"  instruction: {pair['instruction']}")
        click.echo(textwrap.indent(textwrap.shorten(pair["output"], width), "  output: "))
