"""The web libraries the corpus stage uses, each imported where it is needed: a missing one
ends the stage in one line that names what to install, not in a traceback."""

from __future__ import annotations

import importlib
from functools import cache

from humpback.errors import HumpbackError


@cache
def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def need(module: str, what: str) -> None:
    """Raise unless `module` can be imported; `what` says what the user asked for that needs it."""
    if not _importable(module):
        raise HumpbackError(f"{what} needs the package {module}, which is not installed: "
                            f"pip install {module} (or `pip install -e .`, which installs it "
                            f"with humpback)")
