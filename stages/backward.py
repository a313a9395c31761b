"""backward: train M_yx on the seed pairs reversed: given an output, write its instruction."""

from pathlib import Path

from humpback.cards import model_card
from humpback.config import load_params
from humpback.launch import is_main_process, relaunch
from humpback.metrics import timed, write_loss_curve, write_metrics
from humpback.prompts import load_template, render
from humpback.records import read_jsonl
from humpback.resume import checkpoint_path, fingerprint
from humpback.stage import run_stage
from humpback.training import train


def main(base_dir: str, seed_train: str, model_dir: str, metrics: str, loss_plot: str) -> None:
    params = load_params(stage="backward")
    template = load_template(params.backward.prompt, {"output"})
    pairs = [(render(template, output=p["output"]), p["instruction"])
             for p in read_jsonl(seed_train, required=["instruction", "output"])]
    relaunch(params.backward.train, "backward")  # under accelerate/torchrun if params say so
    stats: dict = {}
    with timed(stats):
        checkpoint = checkpoint_path(model_dir, fingerprint(
            pairs, params.backward.train, params.random_seed, Path(base_dir)))
        stats.update(train(base_dir, pairs, params.backward.train, params.random_seed, model_dir,
                           desc="backward", checkpoint=checkpoint, dtype=params.base.dtype))
    if not is_main_process():
        return  # one writer: the other processes of a launch only trained
    write_loss_curve(loss_plot, stats.pop("losses"))
    model_card(title="M_yx: backward model",
               role="Writes the instruction that a given text answers (trained on the seed pairs "
                    "reversed, with the prompt in " + params.backward.prompt + ").",
               folder=model_dir, base=params.base, params=params.backward.train, metrics=stats,
               data={"seed_pairs": stats["examples"] + stats["dropped_examples"],
                     "target_tokens": stats["target_tokens"]}).save(Path(model_dir, "README.md"))
    write_metrics(metrics, stats)


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "seed_train", "model_dir", "metrics", "loss_plot")
