"""The `humpback` command line: one module per command."""

import click

from humpback.cli.chat import chat
from humpback.cli.check import check
from humpback.cli.export import export
from humpback.cli.push import push
from humpback.cli.show import show


@click.group()
def main() -> None:
    """Instruction backtranslation as a DVC pipeline: run it with `dvc repro`; inspect it here."""


main.add_command(check)
main.add_command(show)
main.add_command(chat)
main.add_command(push)
main.add_command(export)
