from pathlib import Path

import click

from humpback.config import load_params
from humpback.errors import HumpbackError
from humpback.export import export_dataset, export_model, hub_base


@click.command()
@click.argument("iteration", type=int)
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--base-id", default=None, metavar="ORG/NAME",
              help="The base model's hub id, for a base.model that is a local folder.")
def export(iteration: int, out_dir: Path, base_id: str | None) -> None:
    """Write M_ITERATION (models/forward/ITERATION) to OUT_DIR/model and the pairs curated in
    ITERATION (data/curated/ITERATION.jsonl) to OUT_DIR/dataset, each a folder that
    `hf upload` takes as it is (docs/sharing.md)."""
    try:
        hub_id, revision = hub_base(load_params().base, base_id)
        model = export_model(f"models/forward/{iteration}", out_dir / "model", hub_id, revision)
        click.echo(f"{model}: M_{iteration}, on the base model {hub_id}")
        if iteration == 0:  # M_0 trains on the seed pairs alone: no curated set
            return
        pairs = export_dataset(f"data/curated/{iteration}.jsonl",
                               f"data/curated/{iteration}.md", out_dir / "dataset")
        click.echo(f"{out_dir / 'dataset'}: {pairs} curated pairs of iteration {iteration}")
    except HumpbackError as err:
        raise click.ClickException(str(err)) from None
