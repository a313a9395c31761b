"""corpus: split the unlabeled sources (section `corpus`) into filtered, deduplicated segments."""

import sys

from humpback import corpus
from humpback.config import load_params
from humpback.errors import HumpbackError
from humpback.metrics import timed, write_metrics
from humpback.records import write_jsonl
from humpback.stage import run_stage


def main(segments: str, metrics: str) -> None:
    params = load_params(stage="corpus")
    rejections = corpus.Rejections(params.corpus.on_bad_record)
    stats: dict = {}
    with timed(stats):
        records, counts = corpus.build(params.corpus, params.random_seed, rejections)
    for message in rejections.messages:
        print(f"warning: skipped {message}", file=sys.stderr)
    if rejections.count:
        print(f"warning: skipped {rejections.count} bad source records in all "
              f"(corpus.on_bad_record: skip; counted in {metrics})", file=sys.stderr)
    if not records:
        raise HumpbackError(f"corpus.sources {params.corpus.sources}: no segment passed the "
                            f"filters ({counts})")
    write_jsonl(segments, records)
    if "pydoc" in params.corpus.sources:  # its text is that of the running Python's docs
        stats["python_version"] = corpus.python_version()
    write_metrics(metrics, {**counts, **stats})


if __name__ == "__main__":
    run_stage(main, __doc__, "segments", "metrics")
