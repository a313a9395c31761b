"""Share DVC's run-cache so that a teammate's `dvc repro --pull` restores results instead of running.

`dvc push --run-cache` (DVC 3.x) uploads the run records (`.dvc/cache/runs`) but only the data that
the workspace's dvc.lock names; the `cache: false` metrics and plots that every stage here writes are
recorded in each run record and kept in the local cache, yet never uploaded. A teammate's restore
from the run-cache then stops at "Missing cache files: metrics/..." and the stage runs again.
`push_run_cache` uploads the records and every file they name.

    python -m humpback.run_cache [-r REMOTE]
"""

from __future__ import annotations

import argparse
import os


def push_run_cache(root: str = ".", remote: str | None = None,
                   exclude: tuple[str, ...] = ()) -> tuple[int, int]:
    """Push the run records and the files they name (but those under `exclude` prefixes).
    Returns (records pushed, files pushed); files already on the remote are not sent again."""
    from dvc.repo import Repo

    with Repo(root) as repo:
        records = repo.stage_cache.push(remote)
        runs = repo.stage_cache.cache_dir
        entries = [(key, value)
                   for prefix in (os.listdir(runs) if os.path.isdir(runs) else [])
                   for key in os.listdir(os.path.join(runs, prefix))
                   for value in os.listdir(os.path.join(runs, prefix, key))]
        objs = set()
        for key, value in entries:
            entry = repo.stage_cache._load_cache(key, value)
            if not entry:
                continue
            stage = repo.stage_cache._create_stage(entry)
            for out in stage.outs:
                if not str(out).startswith(exclude):
                    for found in out.get_used_objs().values():
                        objs |= found
        result = repo.cloud.push(objs, remote=remote)
    return len(records), len(result.transferred)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m humpback.run_cache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-r", "--remote", default=None, help="DVC remote (default: the default one)")
    args = parser.parse_args(argv)
    records, files = push_run_cache(remote=args.remote)
    print(f"{records} run records and {files} files pushed")


if __name__ == "__main__":
    main()
