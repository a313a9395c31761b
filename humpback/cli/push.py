import click

from humpback.config import ParamsError, load_params
from humpback.run_cache import push_run_cache

# The largest files of a run, each made again from what is pushed (the base model from its source).
INTERMEDIATES = ("models/base", "data/candidates.jsonl", "data/scores/")


@click.command()
@click.option("-r", "--remote", default=None, help="DVC remote (default: the project's default).")
@click.option("--run-cache", is_flag=True,
              help="Push the run-cache too, with every file its records name.")
def push(remote: str | None, run_cache: bool) -> None:
    """`dvc push` that honours storage.push_intermediates in params.yaml: when false, the
    base model, the candidates and their scores stay out of the remote."""
    from dvc.repo import Repo

    try:
        keep_all = load_params().storage.push_intermediates
    except ParamsError as err:
        raise click.ClickException(str(err)) from None
    with Repo(".") as repo:
        outs = [str(out) for stage in repo.index.stages for out in stage.outs if out.use_cache]
        targets = [o for o in outs if keep_all or not o.startswith(INTERMEDIATES)]
        pushed = repo.push(targets=targets, remote=remote)
    skipped = len(outs) - len(targets)
    click.echo(f"{pushed} files pushed" + (f"; {skipped} intermediate outputs left out "
                                           "(storage.push_intermediates: false)" if skipped else ""))
    if run_cache:  # records plus the files they name, which `dvc push --run-cache` leaves behind
        records, files = push_run_cache(remote=remote, exclude=() if keep_all else INTERMEDIATES)
        click.echo(f"{records} run records and {files} more files pushed")
