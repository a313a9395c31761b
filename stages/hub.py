"""hub@<name>: bring a Hugging Face hub dataset (section `hub.<name>`), pinned to a commit, into
the workspace as data/hub/<name>.jsonl, with a data card and the revision in the metrics."""

from humpback import hub
from humpback.cards import hub_card
from humpback.config import load_params
from humpback.metrics import timed, write_metrics
from humpback.records import write_jsonl
from humpback.stage import run_stage


def main(name: str, rows: str, card: str, metrics: str) -> None:
    params = load_params(stage=f"hub@{name}").hub[name]
    stats: dict = {"dataset": params.dataset, "revision": params.revision, "split": params.split,
                   "config": params.config, "file": params.file}
    with timed(stats):
        stats["rows"] = write_jsonl(rows, hub.rows(params, name))
    hub_card(name=name, params=params, rows=stats["rows"], folder=hub.FOLDER).save(card)
    write_metrics(metrics, stats)


if __name__ == "__main__":
    run_stage(main, __doc__, "name", "rows", "card", "metrics")
