"""forward@t: train M_t on its training set (seed pairs, plus curated pairs for t >= 1),
with the paper's source sentence appended to each instruction."""

from pathlib import Path

from humpback.cards import model_card
from humpback.config import load_params
from humpback.launch import is_main_process, relaunch
from humpback.metrics import timed, write_loss_curve, write_metrics
from humpback.prompts import with_tag
from humpback.records import read_jsonl
from humpback.resume import checkpoint_path, fingerprint
from humpback.stage import run_stage
from humpback.training import train


def main(base_dir: str, train_set: str, model_dir: str, metrics: str, loss_plot: str) -> None:
    params = load_params(stage="forward")
    tags = {"seed": params.prompts.seed_tag, "augmented": params.prompts.augmented_tag}
    records = list(read_jsonl(train_set, required=["instruction", "output"]))
    pairs = [(with_tag(r["instruction"], tags[r.get("source", "seed")]), r["output"])
             for r in records]
    stats: dict = {"seed_pairs": sum(r.get("source", "seed") == "seed" for r in records)}
    stats["augmented_pairs"] = len(records) - stats["seed_pairs"]
    relaunch(params.forward.train, "forward")  # under accelerate/torchrun if params say so
    with timed(stats):
        checkpoint = checkpoint_path(model_dir, fingerprint(
            pairs, params.forward.train, params.random_seed, Path(base_dir)))
        stats.update(train(base_dir, pairs, params.forward.train, params.random_seed, model_dir,
                           desc="forward", checkpoint=checkpoint, dtype=params.base.dtype))
    if not is_main_process():
        return  # one writer: the other processes of a launch only trained
    write_loss_curve(loss_plot, stats.pop("losses"))
    t = Path(model_dir).name
    model_card(title=f"M_{t}: forward model of iteration {t}",
               role="Answers instructions. M_0 is trained on the seed pairs only; M_t (t >= 1) on "
                    "the seed pairs plus the pairs curated in iteration t, each instruction ending "
                    "in its source sentence.",
               folder=model_dir, base=params.base, params=params.forward.train, metrics=stats,
               data={"seed_pairs": stats["seed_pairs"], "curated_pairs": stats["augmented_pairs"],
                     "target_tokens": stats["target_tokens"]}).save(Path(model_dir, "README.md"))
    write_metrics(metrics, stats)


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "train_set", "model_dir", "metrics", "loss_plot")
