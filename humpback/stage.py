"""What every entry point in stages/ shares: its path arguments and one-line errors."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from humpback.errors import HumpbackError


def run_stage(main: Callable[..., None], description: str, *paths: str) -> None:
    """Parse the stage's path arguments, call `main(**paths)`, report a user error in one line."""
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    for name in paths:
        parser.add_argument(name)
    args = parser.parse_args()
    try:
        main(**vars(args))
    except HumpbackError as err:
        sys.exit(f"error: {err}")
