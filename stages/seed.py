"""seed: load the seed pairs (section `seed`), hold out an evaluation split, and write the rest
as data/train/0.jsonl: the training set of M_0 (and, reversed, of the backward model)."""

from humpback import seed
from humpback.config import load_params
from humpback.metrics import write_metrics
from humpback.records import write_jsonl
from humpback.stage import run_stage


def main(train: str, eval: str, metrics: str) -> None:
    params = load_params(stage="seed")
    pairs = seed.load_pairs(params.seed)
    train_pairs, eval_pairs = seed.split(pairs, params.seed.eval_fraction, params.random_seed,
                                         where=params.seed.source)
    write_jsonl(train, train_pairs)
    write_jsonl(eval, eval_pairs)
    write_metrics(metrics, {"pairs": len(pairs), "train": len(train_pairs),
                            "eval": len(eval_pairs)})


if __name__ == "__main__":
    run_stage(main, __doc__, "train", "eval", "metrics")
