"""corpus: split the unlabeled sources (section `corpus`) into filtered, deduplicated segments.

Beside the segments (`data/corpus.jsonl`) it writes their data card (`data/corpus.md`).
"""

import sys
from pathlib import Path

from humpback.config import load_params
from humpback.corpus import build
from humpback.corpus.card import corpus_card
from humpback.corpus import python_version
from humpback.errors import HumpbackError
from humpback.metrics import timed, write_metrics
from humpback.stage import run_stage


def main(segments: str, metrics: str) -> None:
    params = load_params(stage="corpus")
    rejections = build.Rejections(params.corpus.on_bad_record)
    progress = build.Progress()
    stats: dict = {}
    try:
        with timed(stats):
            counts = build.build(params.corpus, params.random_seed, segments, rejections,
                                 progress)
    finally:
        for message in rejections.messages:
            print(f"warning: skipped {message}", file=sys.stderr)
        if rejections.count:
            print(f"warning: skipped {rejections.count} bad source records in all "
                  f"(corpus.on_bad_record: skip; counted in {metrics})", file=sys.stderr)
        if progress.skipped_files:
            print(build.skipped_files_warning(progress.skipped_files, metrics), file=sys.stderr)
    if not counts["kept"]:
        raise HumpbackError(f"corpus.sources {params.corpus.sources}: no segment passed the "
                            f"filters ({counts})")
    if "pydoc" in params.corpus.sources:  # its text is that of the running Python's docs
        stats["python_version"] = python_version()
    corpus_card(params.corpus, counts, segments).save(Path(segments).with_suffix(".md"))
    write_metrics(metrics, {**counts, **stats})


if __name__ == "__main__":
    run_stage(main, __doc__, "segments", "metrics")
